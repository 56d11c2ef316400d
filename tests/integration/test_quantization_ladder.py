"""The export's quantization ladder: a form that disagrees with Keras is refused, the next is published."""
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from lungct.imaging import PreprocessParams
from lungct.labels import LABELS
from lungct.model import Classifier, load_card
from tests.helpers import synthetic_slice

pytestmark = pytest.mark.slow
SIZE = 32


def _images(seeds: range) -> np.ndarray:
    from lungct.imaging.preprocess import to_tensor

    return np.stack([to_tensor(synthetic_slice(s, 64, s % 4).astype(np.float32), SIZE) for s in seeds])


@pytest.fixture(scope="module")
def serving_model():
    import keras

    from training_job.model import build_classifier

    keras.utils.set_random_seed(7)
    return build_classifier(image_size=SIZE, weights=None).serving_model


@pytest.fixture(scope="module")
def broken_tflite(serving_model) -> bytes:
    """The same graph with its class order reversed: every top-1 label moves (4 classes, c != 3 - c)."""
    import keras
    import tensorflow as tf

    image = keras.Input((SIZE, SIZE, 3), name="image")
    out = serving_model(image)
    reversed_probs = keras.layers.Lambda(lambda p: p[:, ::-1], name="reverse")(out["probabilities"])
    broken = keras.Model(image, {"probabilities": reversed_probs, "features": out["features"]})
    with tempfile.TemporaryDirectory() as tmp:
        broken.export(tmp, format="tf_saved_model", verbose=False)
        return tf.lite.TFLiteConverter.from_saved_model(tmp).convert()


def _export(serving_model, out: Path, **kwargs):
    from training_job.export import export_artifact

    return export_artifact(
        serving_model, out, name="lungct-vgg16", version="t", labels=list(LABELS),
        params=PreprocessParams(size=SIZE), parity_images=_images(range(100, 112)), **kwargs,
    )


def test_a_disagreeing_int8_model_is_refused_and_the_next_form_published(serving_model, broken_tflite, tmp_path, monkeypatch):
    import training_job.quantize as quantize

    real = quantize.convert
    monkeypatch.setattr(quantize, "convert", lambda saved, form, cal: broken_tflite if form == "int8" else real(saved, form, cal))

    card = _export(serving_model, tmp_path / "model", calibration_images=_images(range(12)), forms=("int8", "fp32"))

    assert card.quantization == "fp32"
    written = json.loads((tmp_path / "model" / "model.json").read_text())
    assert written["quantization"] == "fp32" and written["parity"]["published"] == "fp32"
    int8 = written["parity"]["forms"]["int8"]
    assert int8["passed"] is False and int8["top1_agreement"] == 0.0
    assert "< required 99.0%" in int8["reason"] and int8["max_abs_prob_diff"] >= 0.0
    assert written["parity"]["forms"]["fp32"]["passed"] is True
    assert Classifier(tmp_path / "model").predict(_images(range(2)))[0].label in LABELS


def test_a_form_that_fails_to_convert_is_recorded_and_skipped(serving_model, tmp_path, monkeypatch):
    import training_job.quantize as quantize

    real = quantize.convert

    def flaky(saved, form, cal):
        if form == "int8":
            raise RuntimeError("quantizer does not support this op")
        return real(saved, form, cal)

    monkeypatch.setattr(quantize, "convert", flaky)
    card = _export(serving_model, tmp_path / "model", calibration_images=_images(range(12)), forms=("int8", "fp32"))
    assert card.quantization == "fp32"
    assert "quantizer does not support this op" in card.parity["forms"]["int8"]["reason"]


def test_int8_is_skipped_without_calibration_images(serving_model, tmp_path):
    card = _export(serving_model, tmp_path / "model", forms=("int8", "fp32"))
    assert card.quantization == "fp32"
    assert card.parity["forms"]["int8"]["reason"].startswith("skipped")


def test_when_no_form_agrees_nothing_is_published(serving_model, broken_tflite, tmp_path, monkeypatch):
    import training_job.quantize as quantize
    from training_job.export import ParityError

    monkeypatch.setattr(quantize, "convert", lambda saved, form, cal: broken_tflite)
    with pytest.raises(ParityError, match="int8: top-1 agreement 0.0%"):
        _export(serving_model, tmp_path / "model", calibration_images=_images(range(12)), forms=("int8", "dynamic"))
    assert not (tmp_path / "model" / "model.json").exists()


def test_parity_images_that_were_calibrated_on_are_left_out(serving_model, tmp_path):
    calibration = _images(range(100, 106))  # the first 6 parity images
    card = _export(serving_model, tmp_path / "model", calibration_images=calibration, forms=("fp32",))
    assert card.parity["excluded_as_calibrated"] == 6 and card.parity["images"] == 6
    load_card(tmp_path / "model")


def test_selective_int8_keeps_the_worst_layers_in_float(serving_model):
    from training_job import quantize

    calibration = _images(range(8))
    with tempfile.TemporaryDirectory() as tmp:
        saved = quantize.export_saved_model(serving_model, Path(tmp) / "sm")
        rows = quantize.layer_errors(saved, calibration, debug_images=4)
        assert rows and all(r["rmse_over_scale"] >= 0 for r in rows)
        worst = max(r["rmse_over_scale"] for r in rows)
        model, float_ops = quantize.convert_mixed(saved, calibration, threshold=worst * 0.99, debug_images=4)
    assert float_ops  # the op(s) above the threshold stay float
    probs = quantize.litert_probabilities(model, _images(range(100, 104)))
    assert probs.shape == (4, 4) and np.allclose(probs.sum(1), 1.0, atol=0.02)
