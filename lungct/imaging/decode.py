"""Decode and validate: any supported file becomes one greyscale slice, or a readable reason."""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from lungct.errors import ImageRejected
from lungct.imaging import dicom
from lungct.imaging.limits import DEFAULT_LIMITS, ImageLimits

SUPPORTED_FORMATS = frozenset({"PNG", "JPEG"})


@dataclass
class DecodedImage:
    """One greyscale slice as float32 in 0..255, with what we may say about the file."""

    pixels: np.ndarray
    format: str
    mode: str
    width: int
    height: int
    colourfulness: float = 0.0  # mean |R-G|+|G-B| on 0..255; CT slices are ~0
    dicom: dict[str, Any] = field(default_factory=dict)


def decode(data: bytes, *, limits: ImageLimits = DEFAULT_LIMITS, window_center: float = dicom.LUNG_WINDOW_CENTER,
           window_width: float = dicom.LUNG_WINDOW_WIDTH) -> DecodedImage:
    """Decode PNG, JPEG or DICOM bytes; raise ImageRejected with a reason a person understands."""
    limits.check_bytes(data)
    if dicom.looks_like_dicom(data):
        pixels, meta = dicom.read_dicom(data, center=window_center, width=window_width, limits=limits)
        height, width = pixels.shape
        limits.check_size(width, height)
        return DecodedImage(pixels, "DICOM", "HU", width, height, 0.0, meta)
    return _decode_raster(data, limits)


def _decode_raster(data: bytes, limits: ImageLimits) -> DecodedImage:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected("too_many_pixels", f"the image declares too many pixels ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageRejected(
            "not_an_image", "the file is not a PNG, JPEG or DICOM image (its content matches no image format)"
        ) from exc
    except Exception as exc:  # Pillow raises assorted errors on corrupt headers
        raise ImageRejected("not_an_image", f"the image header could not be read ({type(exc).__name__})") from exc
    with img:
        fmt = img.format or "unknown"
        if fmt not in SUPPORTED_FORMATS:
            raise ImageRejected(
                "unsupported_format", f"{fmt} images are not supported; send PNG, JPEG or DICOM"
            )
        width, height = img.size
        limits.check_size(width, height)
        mode = img.mode
        try:
            img.load()
            img = ImageOps.exif_transpose(img)
            pixels, colour = _to_grey(img)
        except ImageRejected:
            raise
        except Exception as exc:  # truncated or corrupt pixel data
            raise ImageRejected(
                "truncated", f"the {fmt} pixel data is truncated or corrupt ({type(exc).__name__}); upload the file again"
            ) from exc
    return DecodedImage(pixels, fmt, mode, pixels.shape[1], pixels.shape[0], colour)


def _to_grey(img: Image.Image) -> tuple[np.ndarray, float]:
    """Any mode to one float32 channel in 0..255; 16-bit and float images are rescaled by range."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return scaled.astype(np.float32), 0.0
    if img.mode in ("P", "PA", "LA", "RGBA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode == "CMYK" or img.mode == "YCbCr":
        img = img.convert("RGB")
    if img.mode == "RGB":
        rgb = np.asarray(img, dtype=np.int16)
        colour = float(np.mean(np.abs(rgb[..., 0] - rgb[..., 1]) + np.abs(rgb[..., 1] - rgb[..., 2])))
        return np.asarray(img.convert("L"), dtype=np.float32), colour
    return np.asarray(img.convert("L"), dtype=np.float32), 0.0
