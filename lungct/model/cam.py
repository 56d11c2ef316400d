"""Class activation maps from the serving model's outputs, in numpy (no framework).

The head is global average pooling -> dense, so the class score is the dense weights of that class
applied to the pooled last-conv features; applying them before pooling gives where the score comes
from. The dense kernel is stored in the artifact as ``head.npz`` (``kernel``, ``bias``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from lungct.errors import ArtifactError

HEAD_FILE = "head.npz"


def class_activation_map(
    features: np.ndarray, dense_weights: np.ndarray, class_index: int, *, size: int | None = None
) -> np.ndarray:
    """``features`` (h, w, C) or (1, h, w, C), ``dense_weights`` (C, classes) -> 2D map in [0, 1].

    Negative evidence is clipped at 0; a map with no positive evidence is all zeros. ``size``
    upsamples (bilinear) to ``size x size`` to overlay the model's input image.
    """
    feats = np.asarray(features, dtype=np.float32)
    if feats.ndim == 4 and feats.shape[0] == 1:
        feats = feats[0]
    weights = np.asarray(dense_weights, dtype=np.float32)
    if feats.ndim != 3 or weights.ndim != 2 or feats.shape[-1] != weights.shape[0]:
        raise ValueError(
            f"features must be (h, w, C) and dense_weights (C, classes); received {feats.shape} and {weights.shape}"
        )
    if not 0 <= class_index < weights.shape[1]:
        raise ValueError(f"class_index must be in [0, {weights.shape[1]}); received class_index={class_index}")
    cam = np.maximum(feats @ weights[:, class_index], 0.0)
    peak = float(cam.max())
    cam = cam / peak if peak > 0 else np.zeros_like(cam)
    if size is not None and cam.shape != (size, size):
        cam = np.asarray(Image.fromarray(cam, mode="F").resize((size, size), Image.Resampling.BILINEAR))
        cam = np.clip(cam, 0.0, 1.0)
    return cam.astype(np.float32)


def save_head(directory: Path, kernel: np.ndarray, bias: np.ndarray) -> Path:
    """Write ``head.npz`` into an artifact folder (called by the export)."""
    path = Path(directory) / HEAD_FILE
    np.savez(path, kernel=np.asarray(kernel, np.float32), bias=np.asarray(bias, np.float32))
    return path


def load_head(directory: Path, head_file: str | None = HEAD_FILE) -> tuple[np.ndarray, np.ndarray]:
    """The dense ``kernel`` (C, classes) and ``bias`` (classes,) stored next to the model file."""
    path = Path(directory) / (head_file or HEAD_FILE)
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist; this artifact was exported without its head weights")
    with np.load(path) as data:
        return np.asarray(data["kernel"]), np.asarray(data["bias"])
