"""Per-image review flags: low confidence, and inputs that do not look like a CT slice.

The out-of-distribution (OOD) check is deliberately cheap: a handful of image statistics on the
decoded greyscale slice, each compared with a threshold. CT slices (any window, PNG, JPEG or a
DICOM export) are grey, have no page-like white background, no large flat UI blocks and few sharp
edges; colour photos, screenshots and scanned documents break at least one of those. The
thresholds were set on the 685 real slices of the public chest CT dataset (none is flagged) and
live in one place: defaults here, then ``model.json`` (``card.thresholds``), then the environment
(``LUNGCT_OOD_*``), the later winning.

A DICOM file whose header says ``Modality: CT`` is not checked: the header already answers the
question, and a lung window saturates soft tissue to white, which would trip the page check.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np

from lungct.imaging import DecodedImage

LOW_CONFIDENCE = "low_confidence"
NOT_CT_PREFIX = "not_ct_like:"

# name -> (default threshold, statistic, reason when the statistic exceeds it)
OOD_CHECKS: dict[str, tuple[float, str, str]] = {
    # mean |R-G|+|G-B| on 0..255; real CT slices reach 3.7 (tinted exports), colour photos 20+
    "ood_colourfulness": (10.0, "colourfulness", "colour"),
    # fraction of pixels > 224; real CT reaches 0.52, a white page with text 0.8+
    "ood_bright_fraction": (0.7, "bright_fraction", "white_page"),
    # share of mid-grey pixels (32..224) in perfectly flat areas (neighbour steps <= 1 level);
    # real CT (textured tissue) <= 0.42, UI blocks of a screenshot 0.69+ even after JPEG
    "ood_flat_fraction": (0.55, "flat_fraction", "flat_regions"),
    # fraction of neighbour steps > 48 grey levels; real CT <= 0.14, text and UI chrome more
    "ood_edge_density": (0.2, "edge_density", "sharp_edges"),
}
DEFAULT_OOD_THRESHOLDS: dict[str, float] = {name: spec[0] for name, spec in OOD_CHECKS.items()}
_ANALYSIS_SIDE = 256  # statistics on a strided copy of at most this many pixels a side


def ood_thresholds_from_environ(environ: Mapping[str, str] | None = None) -> dict[str, float]:
    """Thresholds set explicitly in the environment (``LUNGCT_OOD_COLOURFULNESS=12`` ...)."""
    environ = os.environ if environ is None else environ
    found: dict[str, float] = {}
    for name in OOD_CHECKS:
        raw = environ.get(f"LUNGCT_{name.upper()}")
        if raw:
            found[name] = float(raw)
    return found


def effective_thresholds(card_thresholds: Mapping[str, Any], overrides: Mapping[str, float]) -> dict[str, float]:
    """Defaults, then the model card, then explicit settings."""
    merged = dict(DEFAULT_OOD_THRESHOLDS)
    merged.update({k: float(v) for k, v in card_thresholds.items() if k in OOD_CHECKS})
    merged.update(overrides)
    return merged


def image_statistics(image: DecodedImage) -> dict[str, float]:
    """The statistics the OOD check compares (all in 0..1 except colourfulness, 0..510)."""
    pixels = np.asarray(image.pixels, dtype=np.float32)
    step = max(1, max(pixels.shape) // _ANALYSIS_SIDE)
    p = pixels[::step, ::step]
    step_x = np.abs(np.diff(p, axis=1))
    step_y = np.abs(np.diff(p, axis=0))
    corner = p[:-1, :-1]
    mid_grey = (corner >= 32) & (corner <= 224)
    flat_here = (step_x[:-1, :] <= 1.0) & (step_y[:, :-1] <= 1.0)
    flat = float(flat_here[mid_grey].mean()) if mid_grey.any() else 0.0
    edges = float(((step_x > 48).mean() if step_x.size else 0.0) + ((step_y > 48).mean() if step_y.size else 0.0)) / 2.0
    return {
        "colourfulness": round(float(image.colourfulness), 3),
        "dark_fraction": round(float(np.mean(p < 32)), 4),
        "bright_fraction": round(float(np.mean(p > 224)), 4),
        "flat_fraction": round(flat, 4),
        "edge_density": round(edges, 4),
    }


def is_ct_dicom(image: DecodedImage) -> bool:
    return image.format == "DICOM" and str(image.dicom.get("Modality", "")).upper() == "CT"


def ood_reasons(image: DecodedImage, thresholds: Mapping[str, float]) -> tuple[list[str], dict[str, float]]:
    """Review reasons (``not_ct_like:<why>``) and the statistics behind them."""
    if is_ct_dicom(image):
        return [], {}
    stats = image_statistics(image)
    reasons = [
        f"{NOT_CT_PREFIX}{why}"
        for name, (_, statistic, why) in OOD_CHECKS.items()
        if stats[statistic] > thresholds.get(name, DEFAULT_OOD_THRESHOLDS[name])
    ]
    return reasons, stats
