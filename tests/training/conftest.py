"""A tiny dataset with planted duplicates, and one job run shared by the training tests."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import LONG_FOLDERS, write_dataset

ADENO, LARGE, SQUAMOUS = (LONG_FOLDERS[k] for k in ("adenocarcinoma", "large_cell_carcinoma", "squamous_cell_carcinoma"))


def plant_duplicates(root: Path) -> dict[str, Path]:
    """Three planted problems: a valid image copied into train (same class), a train image copied
    within train, and a train image copied under another label (a conflict)."""
    valid_adeno = sorted((root / "valid" / ADENO).iterdir())[0]
    train_large = sorted((root / "train" / LARGE).iterdir())
    planted = {
        "eval_copy": root / "train" / ADENO / "copy of valid.png",
        "train_copy": root / "train" / LARGE / "dup - Copy.png",
        "conflict": root / "train" / SQUAMOUS / "sq2.png",
    }
    shutil.copyfile(valid_adeno, planted["eval_copy"])
    shutil.copyfile(train_large[0], planted["train_copy"])
    shutil.copyfile(train_large[1], planted["conflict"])
    planted["eval_original"], planted["train_original"], planted["conflict_original"] = (
        valid_adeno, train_large[0], train_large[1])
    return planted


@pytest.fixture(scope="session")
def planted_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = write_dataset(tmp_path_factory.mktemp("planted"), per_class=5, size=48)
    return root, plant_duplicates(root)
