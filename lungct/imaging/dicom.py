"""DICOM slices: modality LUT to Hounsfield units, a lung window, MONOCHROME1 inverted.

Only identifiers that are not patient data (study, series and SOP instance UIDs, modality) leave
this module; names, IDs and dates stay in the dataset object and are never logged or stored.
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np

from lungct.errors import ImageRejected
from lungct.imaging.limits import DEFAULT_LIMITS, ImageLimits

DICOM_MAGIC_OFFSET = 128
DICOM_MAGIC = b"DICM"
LUNG_WINDOW_CENTER = -600.0
LUNG_WINDOW_WIDTH = 1500.0
CLASSIFIED_MODALITIES = frozenset({"CT"})
# Identifiers we keep: they name the study, not the patient.
SAFE_TAGS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Modality")


def looks_like_dicom(data: bytes) -> bool:
    return data[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4] == DICOM_MAGIC


def window(hu: np.ndarray, center: float, width: float) -> np.ndarray:
    """Linear window to 0..255, as a radiologist's viewer shows it."""
    low = center - width / 2.0
    return np.clip((hu - low) / width, 0.0, 1.0).astype(np.float32) * 255.0


def read_dicom(
    data: bytes, *, center: float = LUNG_WINDOW_CENTER, width: float = LUNG_WINDOW_WIDTH,
    limits: ImageLimits = DEFAULT_LIMITS,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Return the windowed slice (float32, 0..255) and the non-identifying tags."""
    import pydicom  # deferred: only DICOM inputs pay for it

    try:
        ds = pydicom.dcmread(io.BytesIO(data))
    except Exception as exc:  # pydicom raises many types for broken files
        raise ImageRejected("not_an_image", f"the DICOM file could not be read ({type(exc).__name__})") from exc
    try:
        return _slice_and_tags(ds, center, width, limits)
    except ImageRejected:
        raise
    except Exception as exc:  # pydicom parses elements lazily: a broken one fails when first read
        raise ImageRejected("bad_header", f"a DICOM header element could not be read ({type(exc).__name__})") from exc


def _slice_and_tags(ds: Any, center: float, width: float, limits: ImageLimits) -> tuple[np.ndarray, dict[str, Any]]:
    from pydicom.pixels import apply_modality_lut

    meta: dict[str, Any] = {tag: str(ds.get(tag, "")) for tag in SAFE_TAGS if ds.get(tag) is not None}
    modality = str(ds.get("Modality", "")).upper()
    if modality and modality not in CLASSIFIED_MODALITIES:
        raise ImageRejected(
            "unsupported_modality",
            f"the DICOM modality is {modality}; lungct classifies CT slices only",
        )
    if "PixelData" not in ds:
        raise ImageRejected("no_pixel_data", "the DICOM file has no pixel data (a report or structured object?)")
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    except (TypeError, ValueError) as exc:
        raise ImageRejected("bad_header", "the DICOM header's image size (Rows, Columns, NumberOfFrames) is not a number") from exc
    limits.check_size(columns, rows)  # before decoding: a compressed file may declare a bomb
    if frames > 1:
        raise ImageRejected(
            "multi_frame", f"the DICOM file holds {frames} frames; send single CT slices"
        )
    try:
        raw = ds.pixel_array
    except Exception as exc:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", str(syntax)) if syntax is not None else "unknown"
        raise ImageRejected(
            "unsupported_encoding",
            f"the DICOM pixel data could not be decoded (transfer syntax: {name}); "
            "export uncompressed (Explicit VR Little Endian) slices",
        ) from exc
    if raw.ndim != 2:
        raise ImageRejected("unsupported_layout", f"the DICOM pixel array has shape {raw.shape}; expected one greyscale slice")
    try:
        hu = np.asarray(apply_modality_lut(raw, ds), dtype=np.float32)
    except Exception as exc:  # RescaleSlope/Intercept or a LUT that is no number
        raise ImageRejected("bad_header", "the DICOM rescale values (RescaleSlope, RescaleIntercept) are not usable numbers") from exc
    if not np.isfinite(hu).all():
        raise ImageRejected("bad_header", "the DICOM rescale values turn pixels into infinite or undefined numbers")
    pixels = window(hu, center, width)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        pixels = 255.0 - pixels
    return pixels, meta
