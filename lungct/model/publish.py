"""Publishing: artifact folder -> ``s3://<artifacts>/models/<name>/<version>/`` -> SSM pointer.

The pointer parameter holds the S3 URI of the current champion. Serving re-reads it every few
minutes (:class:`ModelProvider`), so a promotion needs no redeploy.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from lungct.config import MODELS_PREFIX
from lungct.errors import ArtifactError, ConfigurationError
from lungct.logs import get_logger
from lungct.model.artifact import MODEL_CARD, ModelCard, load_card
from lungct.model.runtime import Classifier

log = get_logger("lungct.model")


def artifact_uri(bucket: str, card: ModelCard) -> str:
    return f"s3://{bucket}/{MODELS_PREFIX}{card.name}/{card.version}/"


def split_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ConfigurationError(f"model pointer {uri!r} is not an s3:// URI; publish a model with `lungct publish`")
    bucket, _, prefix = uri[5:].partition("/")
    return bucket, prefix


def upload_artifact(s3: Any, directory: Path, bucket: str) -> str:
    """Upload a verified artifact; returns its URI. The card goes last, so a reader never sees half."""
    card = load_card(directory, verify=True)
    uri = artifact_uri(bucket, card)
    _, prefix = split_s3_uri(uri)
    files = sorted(p for p in Path(directory).iterdir() if p.is_file() and p.name != MODEL_CARD)
    for path in [*files, Path(directory) / MODEL_CARD]:
        s3.upload_file(str(path), bucket, prefix + path.name)
    return uri


def set_pointer(ssm: Any, parameter: str, uri: str) -> None:
    ssm.put_parameter(Name=parameter, Value=uri, Type="String", Overwrite=True)


def get_pointer(ssm: Any, parameter: str) -> str:
    try:
        return ssm.get_parameter(Name=parameter)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise ConfigurationError(
            f"SSM parameter {parameter} does not exist; deploy the environment and publish a model"
        ) from None


def download_artifact(s3: Any, uri: str, cache_dir: Path) -> Path:
    """Fetch an artifact into ``cache_dir`` (once per version) and verify it."""
    bucket, prefix = split_s3_uri(uri)
    target = Path(cache_dir) / prefix.strip("/").replace("/", "__")
    remote = {}  # name -> (key, size)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            name = obj["Key"][len(prefix) :].lstrip("/")
            if name and "/" not in name:
                remote[name] = (obj["Key"], int(obj.get("Size", 0)))
    if (target / MODEL_CARD).is_file():
        try:
            load_card(target, verify=True)
            # the same URI may have been published again (a retrained version "1"): same files, same card
            cached = {p.name: p.stat().st_size for p in target.iterdir() if p.is_file()}
            if MODEL_CARD in remote and cached == {n: s for n, (_, s) in remote.items()} and (target / MODEL_CARD).read_bytes() == \
                    s3.get_object(Bucket=bucket, Key=remote[MODEL_CARD][0])["Body"].read():
                return target
            shutil.rmtree(target, ignore_errors=True)
        except ArtifactError:
            shutil.rmtree(target, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".download-"))
    count = 0
    for name, (key, _) in remote.items():
        s3.download_file(bucket, key, str(staging / name))
        count += 1
    if count == 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise ArtifactError(f"no artifact at {uri}; publish one with `lungct publish`")
    load_card(staging, verify=True)
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return target


def publish(s3: Any, ssm: Any, directory: Path, *, bucket: str, parameter: str) -> str:
    uri = upload_artifact(s3, directory, bucket)
    set_pointer(ssm, parameter, uri)
    log.info("model published", extra={"uri": uri, "parameter": parameter})
    return uri


class ModelProvider:
    """The container's classifier: loaded once, swapped when the pointer changes (checked every ``ttl_s``)."""

    def __init__(
        self,
        s3: Any,
        ssm: Any,
        parameter: str,
        *,
        ttl_s: float = 300.0,
        cache_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._s3, self._ssm, self.parameter, self.ttl_s = s3, ssm, parameter, ttl_s
        self.cache_dir = Path(cache_dir or Path(tempfile.gettempdir()) / "lungct-models")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._lock = threading.Lock()
        self._uri: str | None = None
        self._checked_at = float("-inf")
        self._classifier: Classifier | None = None

    def get(self) -> Classifier:
        with self._lock:
            now = self._clock()
            if self._classifier is None or now - self._checked_at >= self.ttl_s:
                uri = get_pointer(self._ssm, self.parameter)
                self._checked_at = now
                if uri != self._uri or self._classifier is None:
                    directory = download_artifact(self._s3, uri, self.cache_dir)
                    self._classifier = Classifier(directory)
                    self._uri = uri
                    card = self._classifier.card
                    log.info("model loaded", extra={"model_name": card.name, "model_version": card.version, "uri": uri})
            assert self._classifier is not None
            return self._classifier
