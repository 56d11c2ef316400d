"""Find labelled images in folders laid out like the public chest CT dataset.

``DIR/<split>/<class folder>/*`` or ``DIR/<class folder>/*``; class folders in the dataset's long
(TNM) or short form both map onto the four labels through :mod:`lungct.labels`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lungct.errors import LungctError
from lungct.labels import is_class_folder, label_for_folder

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".dcm", ".dicom"})
UNSPLIT = "all"


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    split: str


def scan(root: Path) -> list[Sample]:
    """Every image under ``root`` with its label and split, sorted by path for reproducibility."""
    root = Path(root)
    if not root.is_dir():
        raise LungctError(f"data folder {root} does not exist")
    samples: list[Sample] = []
    for child in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if is_class_folder(child.name):
            samples.extend(_class_folder(child, UNSPLIT))
        else:
            for class_dir in sorted(p for p in child.iterdir() if p.is_dir() and not p.name.startswith(".")):
                label_for_folder(class_dir.name)  # an unknown folder is an error naming it
                samples.extend(_class_folder(class_dir, child.name))
    if not samples:
        raise LungctError(
            f"no images found under {root}; expected {root}/<split>/<class folder>/* or {root}/<class folder>/*"
        )
    return samples


def _class_folder(folder: Path, split: str) -> list[Sample]:
    label = label_for_folder(folder.name)
    return [
        Sample(path, label, split)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES
    ]
