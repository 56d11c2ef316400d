"""Shared fixtures: an embedded AWS for the session, a tiny trained artifact, fresh handler state."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
# Never reach a real AWS account from tests.
for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(var, None)
os.environ["AWS_ACCESS_KEY_ID"] = "testing"
os.environ["AWS_SECRET_ACCESS_KEY"] = "testing"
os.environ["AWS_DEFAULT_REGION"] = "us-east-1"


@pytest.fixture(scope="session", autouse=True)
def lungct_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("lungct-home")
    os.environ["LUNGCT_HOME"] = str(home)
    return home


@pytest.fixture(scope="session")
def embedded_aws(lungct_home: Path):
    """One moto server for the session, with the local environment's resources."""
    import logging

    from lungct.local import EmbeddedAws

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    aws = EmbeddedAws(visibility_timeout_s=2).start()
    yield aws
    aws.stop()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers import write_dataset

    return write_dataset(tmp_path_factory.mktemp("dataset"), per_class=6, size=64)


@pytest.fixture(scope="session")
def tiny_artifact(tmp_path_factory: pytest.TempPathFactory, tiny_dataset: Path) -> Path:
    """A real serving artifact: VGG16 with random initial weights, 32 px, a few epochs of head training."""
    from training_job.train import TrainConfig, train

    out = tmp_path_factory.mktemp("artifact") / "model"
    train(tiny_dataset, out, TrainConfig(image_size=32, epochs=3, weights=None, batch_size=8, version="1"),
          progress=lambda line: None)
    return out


@pytest.fixture(scope="session")
def published(embedded_aws, tiny_artifact: Path) -> str:
    from lungct.model.publish import publish

    ctx = embedded_aws.context()
    return publish(ctx.client("s3"), ctx.client("ssm"), tiny_artifact,
                   bucket=ctx.names.artifacts_bucket, parameter=ctx.names.model_parameter)


@pytest.fixture()
def worker(embedded_aws, published):
    """The local event source mapping, over a drained queue, with a handler that starts cold."""
    import lambda_infer.handler as handler_module
    from lungct.local import Worker

    handler_module._service = None
    w = Worker(embedded_aws.context())
    w.run(until_empty=True, idle_s=0.3, max_seconds=60)  # drain leftovers of earlier tests
    w.stats = type(w.stats)()
    yield w
    handler_module._service = None


@pytest.fixture()
def study_id() -> str:
    return f"study-{uuid.uuid4().hex[:10]}"
