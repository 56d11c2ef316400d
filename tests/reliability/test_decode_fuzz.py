"""Property: whatever bytes arrive, decode returns an image or raises ImageRejected, in bounded memory."""
from __future__ import annotations

import io
import tracemalloc
from functools import lru_cache

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from lungct.errors import ImageRejected
from lungct.imaging import decode

PEAK_BOUND = 96 * 1024 * 1024  # traced Python/numpy memory per decode; seeds are 64x64 slices
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


@lru_cache(maxsize=1)
def seeds() -> tuple[bytes, ...]:
    import pydicom
    from pydicom.data import get_testdata_file

    rng = np.random.default_rng(0)
    arr = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    out = []
    for fmt, mode in (("PNG", "L"), ("PNG", "RGBA"), ("JPEG", "RGB")):
        buf = io.BytesIO()
        Image.fromarray(arr).convert(mode).save(buf, format=fmt)
        out.append(buf.getvalue())
    buf = io.BytesIO()
    pydicom.dcmread(get_testdata_file("CT_small.dcm")).save_as(buf, enforce_file_format=True)
    out.append(buf.getvalue())
    return tuple(out)


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds())))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "header"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[pos] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        elif kind == "cut":
            data = data[:pos]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "header" and len(data) > 32:  # headers hold sizes and lengths: hit them harder
            hp = draw(st.integers(0, min(400, len(data) - 4)))
            data[hp:hp + 4] = draw(st.binary(min_size=4, max_size=4))
    return bytes(data)


def _decode_bounded(data: bytes) -> None:
    tracemalloc.start()
    try:
        try:
            image = decode(data)
        except ImageRejected as exc:
            assert exc.code and exc.message
        else:
            assert image.pixels.ndim == 2 and image.pixels.dtype == np.float32
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < PEAK_BOUND, f"decode peaked at {peak / 2**20:.0f} MiB"


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_decode_or_are_rejected(data):
    _decode_bounded(data)


@FUZZ
@given(st.binary(max_size=512).map(lambda b: b"\0" * 128 + b"DICM" + b))
def test_random_bytes_after_the_dicom_magic_decode_or_are_rejected(data):
    _decode_bounded(data)


@FUZZ
@given(mutated())
def test_mutated_png_jpeg_dicom_decode_or_are_rejected(data):
    _decode_bounded(data)


@lru_cache(maxsize=1)
def dicom_seeds() -> tuple[tuple[bytes, int], ...]:
    """Compressed and uncompressed DICOM, with the offset where the pixel data element starts."""
    import pydicom
    from pydicom.data import get_testdata_file

    out = []
    for name in ("CT_small.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm"):
        ds = pydicom.dcmread(get_testdata_file(name))
        ds.Modality = "CT"
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        data = buf.getvalue()
        out.append((data, data.index(b"\xe0\x7f\x10\x00")))
    return tuple(out)


@st.composite
def dicom_header_mutations(draw) -> bytes:
    data, pixels_at = draw(st.sampled_from(dicom_seeds()))
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(132, pixels_at + 12))
        data[pos : pos + draw(st.integers(1, 4))] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


@FUZZ
@given(dicom_header_mutations())
def test_mutated_dicom_headers_decode_or_are_rejected(data):
    _decode_bounded(data)
