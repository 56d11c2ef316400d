"""Imaging: bytes in (PNG, JPEG, DICOM), the model's input tensor out.

Training and serving both call :func:`preprocess`; its identifier and parameters are stored in
every serving artifact and checked when the artifact loads.
"""
from __future__ import annotations

from lungct.imaging.decode import DecodedImage, decode
from lungct.imaging.limits import ImageLimits
from lungct.imaging.preprocess import (
    PREPROCESSING_ID,
    PreprocessParams,
    preprocess,
    preprocess_decoded,
    to_tensor,
)

__all__ = [
    "PREPROCESSING_ID",
    "DecodedImage",
    "ImageLimits",
    "PreprocessParams",
    "decode",
    "preprocess",
    "preprocess_decoded",
    "to_tensor",
]
