"""The one preprocessing function shared by training and serving.

Output: float32 ``(size, size, 3)`` in 0..255, the greyscale slice in all three channels. The
VGG16 mean subtraction lives inside the model graph, so the serving runtime needs no framework.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from PIL import Image

from lungct.errors import ArtifactError
from lungct.imaging import dicom
from lungct.imaging.decode import DecodedImage, decode
from lungct.imaging.limits import DEFAULT_LIMITS, ImageLimits

PREPROCESSING_ID = "lungct.grey-slice.v1"


@dataclass(frozen=True)
class PreprocessParams:
    size: int = 224
    window_center: float = dicom.LUNG_WINDOW_CENTER
    window_width: float = dicom.LUNG_WINDOW_WIDTH

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> PreprocessParams:
        unknown = set(raw) - {"size", "window_center", "window_width"}
        if unknown:
            raise ArtifactError(f"unknown preprocessing parameters {sorted(unknown)}; upgrade lungct to load this model")
        return cls(**raw)


def to_tensor(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize one greyscale slice (bilinear) and repeat it into three channels."""
    resized = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F").resize(
        (size, size), Image.Resampling.BILINEAR
    )
    grey = np.clip(np.asarray(resized, dtype=np.float32), 0.0, 255.0)
    return np.repeat(grey[:, :, None], 3, axis=2)


def preprocess_decoded(image: DecodedImage, params: PreprocessParams) -> np.ndarray:
    return to_tensor(image.pixels, params.size)


def preprocess(
    data: bytes, params: PreprocessParams = PreprocessParams(), *, limits: ImageLimits = DEFAULT_LIMITS
) -> np.ndarray:
    """Bytes of a PNG, JPEG or DICOM slice to the model's input tensor; raises ImageRejected."""
    image = decode(data, limits=limits, window_center=params.window_center, window_width=params.window_width)
    return preprocess_decoded(image, params)
