"""Fixtures for the results features: the embedded AWS helpers and DICOM test files."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ct_dicom() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("CT_small.dcm"))


@pytest.fixture(scope="session")
def mr_dicom() -> Path:
    from pydicom.data import get_testdata_file

    return Path(get_testdata_file("MR_small.dcm"))


@pytest.fixture()
def heatmaps_on(monkeypatch):
    """The handler (rebuilt cold by the worker fixture) writes heatmap overlays."""
    monkeypatch.setenv("LUNGCT_HEATMAPS", "1")
