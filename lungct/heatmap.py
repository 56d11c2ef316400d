"""Class activation maps from the serving model's outputs, and the overlay PNG a person looks at.

The head is global average pooling -> one dense layer, so the map for class ``k`` is the dense
kernel's column ``k`` applied to the last conv features at every position (Zhou et al., 2016):
no second pass through the network. The kernel ships with the artifact as ``head.npz``
(``kernel``: ``(channels, classes)``, ``bias``: ``(classes,)``), written at export.

The overlay is the slice in grey with the map's upper part in a colour scale on top: small (at
most 256 px a side) and readable without a viewer.
"""
from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from lungct.config import HEATMAP_PREFIX
from lungct.keys import validate_image_path, validate_study_id
from lungct.model import cam
from lungct.model.cam import HEAD_FILE, class_activation_map

__all__ = ["class_activation_map", "heatmap_key", "load_head", "overlay_png", "upsample"]

OVERLAY_SIDE = 256
_heads: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
_heads_lock = threading.Lock()


def heatmap_key(study_id: str, image: str) -> str:
    """``heatmaps/<study_id>/<image>.png`` in the images bucket."""
    return f"{HEATMAP_PREFIX}{validate_study_id(study_id)}/{validate_image_path(image)}.png"


def load_head(directory: Path, sha256: str = "") -> tuple[np.ndarray, np.ndarray] | None:
    """The dense head's (kernel, bias) from an artifact folder, cached per model; None when not exported."""
    key = f"{Path(directory).resolve()}@{sha256}"
    with _heads_lock:
        if key not in _heads:
            _heads[key] = cam.load_head(directory) if (Path(directory) / HEAD_FILE).is_file() else None
        return _heads[key]


def upsample(cam: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of a map to ``width`` x ``height`` (the map covers the whole square input)."""
    img = Image.fromarray(np.ascontiguousarray(cam, dtype=np.float32), mode="F")
    return np.asarray(img.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def _colour_scale(values: np.ndarray) -> np.ndarray:
    """0..1 -> RGB 0..255 along blue, cyan, yellow, red (a jet-like scale, no matplotlib on the serving path)."""
    stops = np.array([[0, 0, 255], [0, 255, 255], [255, 255, 0], [255, 0, 0]], dtype=np.float32)
    pos = np.clip(values, 0.0, 1.0) * (len(stops) - 1)
    low = np.minimum(pos.astype(np.int64), len(stops) - 2)
    frac = (pos - low)[..., None]
    return stops[low] * (1.0 - frac) + stops[low + 1] * frac


def overlay_png(pixels: np.ndarray, cam: np.ndarray, *, side: int = OVERLAY_SIDE, floor: float = 0.4) -> bytes:
    """PNG of the greyscale slice (0..255) with ``cam`` (any size) blended where, rescaled to its own
    min..max, it exceeds ``floor``: the colour marks where the evidence is strongest on this slice."""
    height, width = pixels.shape
    scale = min(1.0, side / max(height, width))
    w, h = max(1, round(width * scale)), max(1, round(height * scale))
    grey = np.asarray(
        Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F").resize((w, h), Image.Resampling.BILINEAR),
        dtype=np.float32,
    )
    heat = upsample(cam, w, h)
    span = float(heat.max() - heat.min())
    heat = (heat - heat.min()) / span if span > 0 else np.zeros_like(heat)
    alpha = (np.clip((heat - floor) / (1.0 - floor), 0.0, 1.0) * 0.55)[..., None]
    rgb = np.repeat(np.clip(grey, 0, 255)[..., None], 3, axis=2) * (1.0 - alpha) + _colour_scale(heat) * alpha
    buf = io.BytesIO()
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), mode="RGB").save(buf, format="PNG", optimize=True)
    return buf.getvalue()
