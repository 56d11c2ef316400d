"""`lungct --help` and the serving path stay free of mlflow and TensorFlow."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_cli_parser_and_cam_import_neither_mlflow_nor_tensorflow():
    code = (
        "import sys; from lungct.cli import build_parser; build_parser(); import lungct.model.cam; "
        "heavy = sorted(m for m in ('mlflow', 'tensorflow', 'keras') if m in sys.modules); "
        "print(','.join(heavy)); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
