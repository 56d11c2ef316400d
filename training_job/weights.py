"""Where VGG16's base weights come from: Keras's ImageNet download, a local file, S3, or nowhere."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

from lungct.errors import ConfigurationError


def resolve_weights(spec: str | None, *, cache_dir: Path | None = None) -> str | None:
    """Return what ``keras.applications.VGG16(weights=...)`` takes: ``"imagenet"``, a path, or None.

    ``s3://bucket/key.h5`` is downloaded once into ``cache_dir`` (default ``~/.keras/lungct``).
    """
    if spec is None or spec.lower() in ("", "none", "random"):
        return None
    if spec == "imagenet":
        return "imagenet"
    if spec.startswith("s3://"):
        import boto3

        bucket, _, key = spec[5:].partition("/")
        cache = Path(cache_dir or Path.home() / ".keras" / "lungct")
        cache.mkdir(parents=True, exist_ok=True)
        target = cache / (hashlib.sha256(spec.encode()).hexdigest()[:16] + "-" + os.path.basename(key))
        if not target.is_file():
            tmp = target.with_suffix(".part")
            boto3.client("s3").download_file(bucket, key, str(tmp))
            tmp.replace(target)
        return str(target)
    path = Path(spec)
    if not path.is_file():
        raise ConfigurationError(
            f"weights {spec!r} are neither 'imagenet', 'none', an s3:// URI nor an existing file"
        )
    return str(path)
