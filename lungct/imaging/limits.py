"""Bounds on what we agree to decode: a hospital export can contain anything."""
from __future__ import annotations

from dataclasses import dataclass

from lungct.errors import ImageRejected


@dataclass(frozen=True)
class ImageLimits:
    """Defaults admit every CT slice seen in practice and refuse decompression bombs."""

    max_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 40_000_000  # 6324 x 6324; CT slices are 512 x 512
    min_side: int = 32

    def check_bytes(self, data: bytes) -> None:
        self.check_length(len(data))

    def check_length(self, length: int) -> None:
        """Checked on the object's declared length too, before its body is read."""
        if length == 0:
            raise ImageRejected("empty", "the file is empty (0 bytes); upload the image again")
        if length > self.max_bytes:
            raise ImageRejected(
                "too_many_bytes",
                f"the file has {length} bytes, more than the limit of {self.max_bytes}; "
                "send single slices, not archives or volumes",
            )

    def check_size(self, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise ImageRejected(
                "too_many_pixels",
                f"the image declares {width}x{height} pixels, more than the limit of "
                f"{self.max_pixels}; this looks like a corrupt file or a decompression bomb",
            )
        if min(width, height) < self.min_side:
            raise ImageRejected(
                "too_small",
                f"the image is {width}x{height} pixels; at least {self.min_side} pixels per side "
                "are needed for a CT slice",
            )


DEFAULT_LIMITS = ImageLimits()
