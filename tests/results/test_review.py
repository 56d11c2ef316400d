"""Not-CT-like inputs are flagged for review from cheap image statistics; CT-like slices are not."""
from __future__ import annotations

import pytest

from lungct.config import RuntimeSettings
from lungct.imaging import decode
from lungct.review import DEFAULT_OOD_THRESHOLDS, effective_thresholds, ood_reasons
from tests.helpers import jpeg_bytes, png_bytes, synthetic_slice
from tests.results.ood_images import colour_photo, document, screenshot


@pytest.mark.parametrize("encode", [png_bytes, jpeg_bytes], ids=["png", "jpeg"])
@pytest.mark.parametrize(("make", "why"), [
    (colour_photo, "colour"), (screenshot, "flat_regions"), (document, "white_page"),
], ids=["colour-photo", "screenshot", "document"])
def test_non_ct_inputs_are_flagged(make, why, encode):
    reasons, stats = ood_reasons(decode(encode(make(seed=1))), DEFAULT_OOD_THRESHOLDS)
    assert f"not_ct_like:{why}" in reasons, stats


@pytest.mark.parametrize("encode", [png_bytes, jpeg_bytes], ids=["png", "jpeg"])
@pytest.mark.parametrize("seed", range(8))
def test_ct_like_slices_are_not_flagged(seed, encode):
    reasons, stats = ood_reasons(decode(encode(synthetic_slice(seed, 96, seed % 4))), DEFAULT_OOD_THRESHOLDS)
    assert reasons == [], stats


def test_rgba_ct_export_is_not_flagged():
    reasons, _ = ood_reasons(decode(png_bytes(synthetic_slice(3, 128, 1), "RGBA")), DEFAULT_OOD_THRESHOLDS)
    assert reasons == []


def test_ct_dicom_is_trusted_by_its_header(ct_dicom):
    reasons, stats = ood_reasons(decode(ct_dicom.read_bytes()), {k: 0.0 for k in DEFAULT_OOD_THRESHOLDS})
    assert reasons == [] and stats == {}


def test_thresholds_come_from_defaults_then_card_then_environment():
    settings = RuntimeSettings.from_environ({"LUNGCT_OOD_COLOURFULNESS": "30"})
    assert settings.ood_thresholds == {"ood_colourfulness": 30.0}
    merged = effective_thresholds({"ood_colourfulness": 20, "ood_edge_density": 0.3, "review_confidence": 0.7},
                                  settings.ood_thresholds)
    assert merged["ood_colourfulness"] == 30.0 and merged["ood_edge_density"] == 0.3
    assert merged["ood_flat_fraction"] == DEFAULT_OOD_THRESHOLDS["ood_flat_fraction"]
    assert "review_confidence" not in merged
