"""The four classes and how the public dataset's folder names map onto them.

The order below is the canonical one; every model stores its own order in ``model.json``, so
nothing downstream may assume it.
"""
from __future__ import annotations

import re

from lungct.errors import UnknownLabelError

ADENOCARCINOMA = "adenocarcinoma"
LARGE_CELL_CARCINOMA = "large_cell_carcinoma"
NORMAL = "normal"
SQUAMOUS_CELL_CARCINOMA = "squamous_cell_carcinoma"

LABELS: tuple[str, ...] = (ADENOCARCINOMA, LARGE_CELL_CARCINOMA, NORMAL, SQUAMOUS_CELL_CARCINOMA)

DISPLAY_NAMES: dict[str, str] = {
    ADENOCARCINOMA: "Adenocarcinoma",
    LARGE_CELL_CARCINOMA: "Large cell carcinoma",
    NORMAL: "Normal",
    SQUAMOUS_CELL_CARCINOMA: "Squamous cell carcinoma",
}

# Folder names come long (``large.cell.carcinoma_left.hilum_T2_N2_M0_IIIa``) or short
# (``large.cell.carcinoma``); separators vary. Normalise separators, then match by prefix.
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("adenocarcinoma", ADENOCARCINOMA),
    ("large_cell_carcinoma", LARGE_CELL_CARCINOMA),
    ("squamous_cell_carcinoma", SQUAMOUS_CELL_CARCINOMA),
    ("normal", NORMAL),
)


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def label_for_folder(folder: str) -> str:
    """Map a dataset class folder name onto a canonical label.

    Raises UnknownLabelError naming the folder when it matches none of the four classes.
    """
    norm = _normalise(folder)
    for prefix, label in _PREFIXES:
        if norm == prefix or norm.startswith(prefix + "_"):
            return label
    raise UnknownLabelError(
        f"class folder {folder!r} matches none of {', '.join(LABELS)}; rename it to start with "
        "one of these (dots, dashes or underscores between words are all accepted)"
    )


def is_class_folder(folder: str) -> bool:
    """True when ``folder`` names one of the four classes."""
    try:
        label_for_folder(folder)
    except UnknownLabelError:
        return False
    return True
