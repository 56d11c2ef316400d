"""Where VGG16's base weights come from: none, a local file, S3 (downloaded once), never a guess."""
from __future__ import annotations

import numpy as np
import pytest

from lungct.errors import ConfigurationError
from training_job.weights import resolve_weights


def test_none_and_unknown_specs():
    assert resolve_weights(None) is None and resolve_weights("none") is None
    assert resolve_weights("imagenet") == "imagenet"
    with pytest.raises(ConfigurationError, match="missing.h5"):
        resolve_weights("/nowhere/missing.h5")


@pytest.mark.slow
def test_local_weights_file_initialises_the_base(tmp_path, embedded_aws, monkeypatch):
    from training_job.model import build_classifier

    # GIVEN base weights saved from one model, also stored in S3
    source = build_classifier(image_size=32, weights=None)
    path = tmp_path / "vgg16_notop.weights.h5"
    source.base.save_weights(path)
    ctx = embedded_aws.context()
    ctx.client("s3").upload_file(str(path), ctx.names.artifacts_bucket, "weights/vgg16_notop.weights.h5")
    monkeypatch.setenv("AWS_ENDPOINT_URL", ctx.endpoint_url)
    uri = f"s3://{ctx.names.artifacts_bucket}/weights/vgg16_notop.weights.h5"
    # WHEN a new model is built from the local file, and the S3 object is resolved twice
    loaded = build_classifier(image_size=32, weights=resolve_weights(str(path)))
    cached = resolve_weights(uri, cache_dir=tmp_path / "cache")
    ctx.client("s3").delete_object(Bucket=ctx.names.artifacts_bucket, Key="weights/vgg16_notop.weights.h5")
    again = resolve_weights(uri, cache_dir=tmp_path / "cache")
    # THEN the base carries those weights, and the second S3 resolve used the cache
    for a, b in zip(source.base.get_weights(), loaded.base.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert cached == again and (tmp_path / "cache").is_dir()
