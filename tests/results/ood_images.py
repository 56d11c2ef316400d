"""Synthetic inputs that are not CT slices: a colour photo, a screenshot, a document page."""
from __future__ import annotations

import numpy as np


def colour_photo(seed: int = 0, size: int = 160) -> np.ndarray:
    """Photo-like: smooth colour gradients (sky, grass) with sensor noise, RGB uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    r = 200 * (1 - yy) + 40 * xx
    g = 120 + 100 * yy * (1 - xx)
    b = 230 * (1 - yy) ** 2 + 20
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 8, (size, size, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def screenshot(seed: int = 0, width: int = 240, height: int = 160) -> np.ndarray:
    """Screenshot-like greyscale: flat UI blocks (title bar, sidebar, panel) and text-like stripes."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width), 236, dtype=np.uint8)  # window background
    img[:18, :] = 70  # title bar
    img[18:, :50] = 200  # sidebar
    img[30:150, 62:230] = 250  # content panel
    for row in range(40, 140, 8):  # text lines: dark runs of "words"
        x = 68
        while x < 220:
            word = int(rng.integers(6, 20))
            img[row : row + 3, x : min(x + word, 224)] = 40
            x += word + int(rng.integers(3, 7))
    for row in range(26, 140, 14):  # sidebar menu entries
        img[row : row + 3, 8:40] = 90
    return img


def document(seed: int = 0, width: int = 170, height: int = 220) -> np.ndarray:
    """A scanned page: white paper, black text lines, slight scanner noise."""
    rng = np.random.default_rng(seed)
    img = np.full((height, width), 245.0) + rng.normal(0, 2, (height, width))
    for row in range(20, height - 20, 9):
        x = 15
        end = width - 15 - int(rng.integers(0, 40))
        while x < end:
            word = int(rng.integers(4, 16))
            img[row : row + 4, x : min(x + word, end)] = 15
            x += word + 4
    return np.clip(img, 0, 255).astype(np.uint8)
