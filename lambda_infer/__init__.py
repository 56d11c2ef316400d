"""Lambda entry points only; the logic lives in :mod:`lungct`."""
