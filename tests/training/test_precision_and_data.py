"""Mixed precision (the GPU path, forced on a CPU) and syncing the data down from S3."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.mark.slow
def test_mixed_precision_training_exports_a_float32_artifact_that_passes_parity(tiny_dataset, tmp_path):
    import keras

    from training_job.train import TrainConfig, train

    lines: list[str] = []
    try:
        card = train(tiny_dataset, tmp_path / "model", TrainConfig(
            image_size=32, epochs=1, fine_tune_epochs=1, weights=None, batch_size=8, precision="mixed",
            version="mixed", forms="fp32"), progress=lines.append)
        policy = keras.mixed_precision.global_policy().name
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert any("mixed precision" in line for line in lines)
    assert policy == "float32"
    assert card.quantization == "fp32"
    (fp32,) = card.parity["forms"].values()
    assert fp32["passed"] and fp32["max_abs_prob_diff"] < 1e-4


def test_an_s3_data_location_is_synced_down_keeping_the_layout(planted_dataset, embedded_aws, tmp_path):
    from training_job.pipeline import fetch_data

    root, _ = planted_dataset
    ctx = embedded_aws.context()
    s3, bucket = ctx.client("s3"), ctx.names.artifacts_bucket
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        s3.upload_file(str(path), bucket, f"datasets/chest/{path.relative_to(root).as_posix()}")
    [local] = fetch_data(f"s3://{bucket}/datasets/chest", tmp_path / "data", s3=s3)
    synced = sorted(p.relative_to(local) for p in local.rglob("*") if p.is_file())
    assert synced == [p.relative_to(root) for p in files]
    assert (local / files[0].relative_to(root)).read_bytes() == files[0].read_bytes()
    with pytest.raises(Exception, match="no objects"):
        fetch_data(f"s3://{bucket}/datasets/nothing-here", tmp_path / "none", s3=s3)
    assert fetch_data(f"{root},{root}", tmp_path / "x") == [Path(root), Path(root)]
