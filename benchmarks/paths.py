"""Where the benchmarks find the repository and the shared chest CT data (``../shared`` beside it)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data" / "chest-ct"
