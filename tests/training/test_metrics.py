"""Metrics against numbers worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from training_job.metrics import classification_report, confusion_matrix, rank_auc, roc_curve


def probs_for(pred: list[int], k: int = 3) -> np.ndarray:
    p = np.full((len(pred), k), 0.1)
    p[np.arange(len(pred)), pred] = 0.8
    return p


def test_confusion_matrix_and_rates_match_the_hand_computed_example():
    # GIVEN six images of three classes and predictions with three mistakes
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = [0, 0, 1, 1, 2, 2]
    # WHEN
    report = classification_report(y_true, probs_for(y_pred), ["a", "b", "c"])
    # THEN rows are true classes, columns predictions
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    a, b, c = (report["per_class"][k] for k in "abc")
    assert (a["sensitivity"], a["specificity"], a["precision"], a["f1"]) == pytest.approx((2 / 3, 1.0, 1.0, 0.8))
    assert (b["sensitivity"], b["specificity"], b["precision"], b["f1"]) == pytest.approx((0.5, 0.75, 0.5, 0.5))
    assert (c["sensitivity"], c["specificity"], c["precision"], c["f1"]) == pytest.approx((1.0, 0.8, 0.5, 2 / 3))
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["balanced_accuracy"] == pytest.approx((2 / 3 + 0.5 + 1.0) / 3)
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert [a["support"], b["support"], c["support"]] == [3, 2, 1]


def test_rank_auc_matches_the_hand_computed_pairs():
    # 2 positives x 2 negatives: 3 of 4 pairs ordered correctly
    assert rank_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1], bool)) == pytest.approx(0.75)
    # a tie between a positive and a negative counts one half: (0.5 + 1 + 1 + 1) / 4
    assert rank_auc(np.array([0.5, 0.5, 0.2, 0.9]), np.array([1, 0, 0, 1], bool)) == pytest.approx(0.875)
    assert rank_auc(np.array([0.9, 0.8, 0.1]), np.array([1, 1, 0], bool)) == pytest.approx(1.0)


def test_auc_is_undefined_without_both_classes_and_macro_skips_it():
    y_true = np.array([0, 0, 1, 1])
    probs = np.array([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.3, 0.7, 0.0], [0.45, 0.55, 0.0]])
    report = classification_report(y_true, probs, ["a", "b", "c"])
    assert rank_auc(np.array([0.2, 0.3]), np.array([True, True])) is None
    assert report["per_class"]["c"]["auc"] is None and report["per_class"]["c"]["f1"] is None
    assert report["macro_auc"] == pytest.approx(1.0)  # the mean over a and b only


def test_roc_curve_runs_from_origin_to_one_and_its_area_equals_the_rank_auc():
    rng = np.random.default_rng(0)
    scores, positive = rng.random(50), rng.random(50) > 0.5
    fpr, tpr = roc_curve(scores, positive)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(rank_auc(scores, positive))


def test_confusion_matrix_counts_every_image_once():
    cm = confusion_matrix(np.array([3, 3, 0]), np.array([3, 0, 0]), 4)
    assert cm.sum() == 3 and cm[3, 3] == 1 and cm[3, 0] == 1 and cm[0, 0] == 1
