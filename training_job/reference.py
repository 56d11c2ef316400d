"""What training tells serving about its data: the drift reference and the default thresholds.

Stored in ``model.json`` (``card.reference``, ``card.thresholds``) by :func:`card_extra`, which
``train`` passes to ``export_artifact``; ``lungct drift`` compares serving traffic against it.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from lungct.drift import training_reference
from lungct.labels import LABELS
from lungct.review import DEFAULT_OOD_THRESHOLDS

DEFAULT_THRESHOLDS: dict[str, float] = {
    "review_confidence": 0.6,  # a slice below this top probability is flagged for review
    "finding_probability": 0.5,  # a carcinoma class at or above this on any slice is the study's finding
    **DEFAULT_OOD_THRESHOLDS,
}


def card_extra(x_train: np.ndarray, y_train: np.ndarray, labels: Sequence[str] = LABELS) -> dict[str, Any]:
    """``extra`` for ``export_artifact``: reference from the training inputs, and the thresholds."""
    return {"reference": training_reference(x_train, y_train, list(labels)), "thresholds": dict(DEFAULT_THRESHOLDS)}
