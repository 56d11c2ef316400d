"""Classification metrics in plain numpy: confusion matrix, per-class rates, rank-based AUC.

Conventions: ``y_true`` holds class indices, ``probs`` is ``(n, classes)``. A rate whose
denominator is zero (a class absent from the evaluation set) is ``None`` in the output, never a
silent 0 or 1; macro averages run over the classes where the quantity is defined.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if den > 0 else None


def rank_auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """AUC-ROC as the Mann-Whitney U statistic: P(score of a positive > score of a negative), ties 1/2."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties (1-based)
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-scores, kind="mergesort")
    s, p = scores[order], positive[order]
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tps = np.cumsum(p)[distinct]
    fps = np.cumsum(~p)[distinct]
    tpr = np.r_[0.0, tps / max(1, p.sum())]
    fpr = np.r_[0.0, fps / max(1, (~p).sum())]
    return fpr, tpr


def _mean(values: Sequence[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def classification_report(y_true: np.ndarray, probs: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Everything the evaluation stage reports, JSON-ready."""
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    k = len(labels)
    y_pred = np.argmax(probs, axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    cm = confusion_matrix(y_true, y_pred, k)
    n = int(cm.sum())
    per_class: dict[str, dict[str, Any]] = {}
    for c, label in enumerate(labels):
        tp = cm[c, c]
        fn = cm[c].sum() - tp
        fp = cm[:, c].sum() - tp
        tn = n - tp - fn - fp
        precision = _ratio(tp, tp + fp)
        sensitivity = _ratio(tp, tp + fn)
        if tp + fn == 0:
            f1 = None  # the class is absent: F1 is undefined, not 0
        else:
            f1 = float(2 * tp / (2 * tp + fp + fn))
        per_class[label] = {
            "support": int(tp + fn),
            "sensitivity": sensitivity,
            "specificity": _ratio(tn, tn + fp),
            "precision": precision,
            "f1": f1,
            "auc": rank_auc(probs[:, c], y_true == c) if n else None,
        }
    return {
        "images": n,
        "labels": list(labels),
        "accuracy": _ratio(np.trace(cm), n),
        "balanced_accuracy": _mean([m["sensitivity"] for m in per_class.values()]),
        "macro_f1": _mean([m["f1"] for m in per_class.values()]),
        "macro_auc": _mean([m["auc"] for m in per_class.values()]),
        "per_class": per_class,
        "confusion_matrix": cm.tolist(),
    }
