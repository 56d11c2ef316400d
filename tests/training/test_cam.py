"""Class activation maps: the dense weights of a class applied to the last conv features."""
from __future__ import annotations

import numpy as np
import pytest

from lungct.model.cam import class_activation_map


def test_cam_weights_features_by_the_class_and_scales_to_unit_range():
    # GIVEN 2x2 positions, 2 channels; class 1 looks only at channel 0
    features = np.array([[[1.0, 0.0], [3.0, 5.0]], [[0.0, 2.0], [2.0, 0.0]]])
    weights = np.array([[0.0, 2.0], [1.0, 0.0]])
    # WHEN
    cam1 = class_activation_map(features, weights, 1)
    cam0 = class_activation_map(features[None], weights, 0)
    # THEN channel 0 scaled by its max (3 * 2 = 6); class 0 reads channel 1
    assert cam1 == pytest.approx(np.array([[1 / 3, 1.0], [0.0, 2 / 3]]))
    assert cam0 == pytest.approx(np.array([[0.0, 1.0], [0.4, 0.0]]))


def test_cam_clips_negative_evidence_and_upsamples():
    features = np.ones((2, 2, 1))
    cam = class_activation_map(features, np.array([[-1.0]]), 0, size=8)
    assert cam.shape == (8, 8) and cam.max() == 0.0
    up = class_activation_map(np.arange(4.0).reshape(2, 2, 1), np.array([[1.0]]), 0, size=8)
    assert up.shape == (8, 8) and 0.0 <= up.min() and up.max() <= 1.0 and up[7, 7] > up[0, 0]


def test_cam_refuses_mismatched_shapes_naming_them():
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        class_activation_map(np.ones((2, 2, 2)), np.ones((3, 4)), 0)
    with pytest.raises(ValueError, match="class_index"):
        class_activation_map(np.ones((2, 2, 3)), np.ones((3, 4)), 4)
