"""The bad-input corpus: every file lungct must survive, generated deterministically.

Tests call :func:`build_corpus` (nothing is committed but this script); run it to look at the files:

    python tests/data/make_bad_corpus.py tests/data/bad

Each case names the expected end: ``CLASSIFIED`` for a valid if unusual image, else ``REJECTED``
with the reason code a person is shown the reason for.
"""
from __future__ import annotations

import io
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Case:
    name: str  # file name, extension as a user would upload it
    data: bytes
    status: str  # CLASSIFIED or REJECTED
    reason_code: str | None = None
    note: str = ""


def _slice(size: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    body = ((xx - 0.5) ** 2 / 0.16 + (yy - 0.5) ** 2 / 0.1) < 1
    return np.clip(np.where(body, 90.0, 5.0) + rng.normal(0, 6, (size, size)), 0, 255).astype(np.uint8)


def _save(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header declaring width x height, with a few bytes of pixel data (a bomb's shape)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b"")


def _dicom(name: str, **changes) -> bytes:
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file(name))
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _patch_element(data: bytes, group: int, element: int, vr: bytes, value: bytes) -> bytes:
    """Overwrite an explicit-VR little-endian element's value in place (what a broken exporter writes)."""
    tag = struct.pack("<HH", group, element) + vr
    at = data.index(tag)
    length = struct.unpack("<H", data[at + 6 : at + 8])[0]
    return data[: at + 8] + value.ljust(length)[:length] + data[at + 8 + length :]


def _ct_with_text_fields() -> bytes:
    return _dicom("CT_small.dcm", RescaleSlope="1.0", RescaleIntercept="-1024.0", NumberOfFrames="1")


def _dicom_rle_ct() -> bytes:
    """CT_small re-encoded as RLE Lossless: compressed, yet decodable by pydicom alone."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import RLELossless

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.compress(RLELossless, encoding_plugin="pydicom")
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def decodable(name: str) -> bool:
    """Whether this machine's pydicom plugins decode a bundled compressed file (pillow, pylibjpeg, ...)."""
    try:
        import pydicom
        from pydicom.data import get_testdata_file

        pydicom.dcmread(get_testdata_file(name)).pixel_array
    except Exception:
        return False
    return True


def build_corpus() -> list[Case]:
    grey = Image.fromarray(_slice())
    png = _save(grey, "PNG")
    jpeg = _save(grey.convert("RGB"), "JPEG", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    wide = Image.fromarray(_slice(96, 1)[:, :64].copy())  # 64 wide x 96 high
    frames = [Image.fromarray(_slice(64, s)).convert("P") for s in range(3)]
    gif = io.BytesIO()
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    sixteen = Image.fromarray(_slice().astype(np.uint16) * 257)  # mode I;16
    j2k_ok = decodable("JPEG2000.dcm")
    jls_ok = decodable("MR_small_jpeg_ls_lossless.dcm")
    return [
        Case("zero-bytes.png", b"", "REJECTED", "empty"),
        Case("notes.png", b"Patient history: see report.\nThis is a text file named like an image.\n", "REJECTED", "not_an_image"),
        Case("truncated.png", png[: len(png) // 2], "REJECTED", "truncated"),
        Case("truncated.jpg", jpeg[: len(jpeg) // 2], "REJECTED", "truncated"),
        Case("one-pixel.png", _save(Image.new("L", (1, 1), 128), "PNG"), "REJECTED", "too_small"),
        Case("bomb-30000x30000.png", png_declaring(30000, 30000), "REJECTED", "too_many_pixels"),
        Case("grey16.png", _save(sixteen, "PNG"), "CLASSIFIED", note="16-bit greyscale, rescaled by range"),
        Case("palette.png", _save(grey.convert("P"), "PNG"), "CLASSIFIED", note="palette PNG"),
        Case("cmyk.jpg", _save(grey.convert("CMYK"), "JPEG", quality=90), "CLASSIFIED", note="CMYK JPEG"),
        Case("animated.gif", gif.getvalue(), "REJECTED", "unsupported_format"),
        Case("exif-rotated.jpg", _save(wide.convert("RGB"), "JPEG", exif=exif), "CLASSIFIED", note="EXIF orientation applied"),
        Case("no-pixels.dcm", _dicom("CT_small.dcm", PixelData=None), "REJECTED", "no_pixel_data"),
        Case("mr.dcm", _dicom("MR_small.dcm"), "REJECTED", "unsupported_modality"),
        Case("jpeg2000-ct.dcm", _dicom("JPEG2000.dcm", Modality="CT"),
             "CLASSIFIED" if j2k_ok else "REJECTED", None if j2k_ok else "unsupported_encoding",
             note="JPEG 2000: Pillow decodes it, so it is classified"),
        Case("jpegls-ct.dcm", _dicom("MR_small_jpeg_ls_lossless.dcm", Modality="CT"),
             "CLASSIFIED" if jls_ok else "REJECTED", None if jls_ok else "unsupported_encoding",
             note="JPEG-LS: no decoder without pyjpegls/pylibjpeg; rejected naming the transfer syntax"),
        Case("rle-ct.dcm", _dicom_rle_ct(), "CLASSIFIED", note="RLE Lossless, decoded by pydicom itself"),
        Case("bad-rescale.dcm", _patch_element(_ct_with_text_fields(), 0x28, 0x1053, b"DS", b"abc"), "REJECTED", "bad_header"),
        Case("nan-rescale.dcm", _patch_element(_ct_with_text_fields(), 0x28, 0x1053, b"DS", b"NaN"), "REJECTED", "bad_header"),
        Case("bad-frames.dcm", _patch_element(_ct_with_text_fields(), 0x28, 0x0008, b"IS", b"x"), "REJECTED", "bad_header"),
        Case("bad-vr.dcm", _ct_with_text_fields().replace(b"\x08\x00\x60\x00CS", b"\x08\x00\x60\x00C\x00", 1),
             "REJECTED", "bad_header", note="an unknown VR: pydicom fails only when the element is read"),
        Case("bomb-30000x30000.dcm", _dicom("JPEG2000.dcm", Modality="CT", Rows=30000, Columns=30000),
             "REJECTED", "too_many_pixels", note="compressed DICOM declaring a bomb: refused before decoding"),
        Case("ct.dcm", _dicom("CT_small.dcm"), "CLASSIFIED", note="the valid reference slice"),
        Case("valid.png", png, "CLASSIFIED", note="the valid reference PNG"),
    ]


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else Path(__file__).parent / "bad")
    out.mkdir(parents=True, exist_ok=True)
    for case in build_corpus():
        (out / case.name).write_bytes(case.data)
        print(f"{case.name:<24} {len(case.data):>8} bytes  -> {case.status} {case.reason_code or ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
