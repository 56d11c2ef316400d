import json
import shutil

import pytest

from lungct.errors import ArtifactError
from lungct.model import Classifier, load_card


def test_artifact_card_describes_the_model(tiny_artifact):
    card = load_card(tiny_artifact)
    assert card.labels == ["adenocarcinoma", "large_cell_carcinoma", "normal", "squamous_cell_carcinoma"]
    assert card.input_size == 32 and card.runtime == "litert"
    assert card.parity["passed"] and card.parity["top1_agreement"] >= 0.99


def test_classifier_returns_probabilities_per_label(tiny_artifact):
    import numpy as np

    clf = Classifier(tiny_artifact)
    preds = clf.predict(np.full((2, 32, 32, 3), 100.0, np.float32))
    assert len(preds) == 2
    assert sum(preds[0].probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert preds[0].label == max(preds[0].probabilities, key=preds[0].probabilities.get)
    assert preds[0].features is not None and preds[0].features.shape[-1] == 512


def test_tampered_model_file_is_refused(tiny_artifact, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_artifact, copy)
    with open(copy / "model.tflite", "r+b") as fh:
        fh.seek(200)
        byte = fh.read(1)
        fh.seek(200)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ArtifactError, match="sha256"):
        Classifier(copy)


def test_other_preprocessing_is_refused(tiny_artifact, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(tiny_artifact, copy)
    card = json.loads((copy / "model.json").read_text())
    card["preprocessing_id"] = "someone-else.v9"
    (copy / "model.json").write_text(json.dumps(card))
    with pytest.raises(ArtifactError, match="preprocessing"):
        load_card(copy)
