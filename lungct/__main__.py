"""``python -m lungct`` is the ``lungct`` command."""
from lungct.cli import main

raise SystemExit(main())
