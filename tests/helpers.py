"""Test helpers: synthetic images and datasets (no test needs ../shared or a network)."""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from lungct.labels import LABELS

# One folder name per class in the dataset's long (train/valid) form.
LONG_FOLDERS = {
    "adenocarcinoma": "adenocarcinoma_left.lower.lobe_T2_N0_M0_Ib",
    "large_cell_carcinoma": "large.cell.carcinoma_left.hilum_T2_N2_M0_IIIa",
    "normal": "normal",
    "squamous_cell_carcinoma": "squamous.cell.carcinoma_left.hilum_T1_N2_M0_IIIa",
}


def synthetic_slice(seed: int, size: int = 96, label_index: int = 0) -> np.ndarray:
    """A CT-like greyscale slice: dark background, bright body ellipse, a class-dependent blob."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    body = ((xx - 0.5) ** 2 / 0.16 + (yy - 0.5) ** 2 / 0.1) < 1
    img = np.where(body, 90.0, 5.0) + rng.normal(0, 6, (size, size))
    cx, cy = [(0.3, 0.35), (0.7, 0.35), (0.5, 0.5), (0.5, 0.7)][label_index % 4]
    blob = ((xx - cx) ** 2 + (yy - cy) ** 2) < (0.06 + 0.02 * label_index) ** 2
    img = np.where(blob, 220.0, img)
    return np.clip(img, 0, 255).astype(np.uint8)


def png_bytes(array: np.ndarray, mode: str | None = None) -> bytes:
    img = Image.fromarray(array)
    if mode:
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).convert("RGB").save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (a decompression-bomb shape) with no real pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def write_dataset(root: Path, per_class: int = 6, size: int = 96, splits: tuple[str, ...] = ("train", "valid")) -> Path:
    """A tiny dataset in the public layout, long folder names, with odd file names."""
    seed = 0
    for split in splits:
        for i, label in enumerate(LABELS):
            folder = root / split / LONG_FOLDERS[label]
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(per_class):
                seed += 1
                (folder / f"00{seed:04d} ({k}).png").write_bytes(png_bytes(synthetic_slice(seed, size, i), "RGBA"))
    return root
