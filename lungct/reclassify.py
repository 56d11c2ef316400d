"""Reclassify stored images with the current champion: S3 events fire only on upload, so we send
the queue what S3 would have sent, for the current version of each object.

The pipeline skips an object only when the same object version was already classified by the same
model (sha256), so after a promotion every image is classified again and its result records the
model that produced it and ``previous_model_version``; with an unchanged model, reclassifying is a
no-op.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Iterator
from urllib.parse import quote_plus

from lungct.config import INCOMING_PREFIX
from lungct.errors import InvalidKeyError, LungctError
from lungct.keys import parse_incoming_key, validate_study_id

SQS_BATCH = 10


def current_objects(s3: Any, bucket: str, study_id: str | None = None, *, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Current (latest, not deleted) objects under ``incoming/`` (or one study), modified at or after ``since``."""
    prefix = INCOMING_PREFIX + (validate_study_id(study_id) + "/" if study_id else "")
    versioned = s3.get_bucket_versioning(Bucket=bucket).get("Status") in ("Enabled", "Suspended")
    if versioned:
        pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
        objects = (v for page in pages for v in page.get("Versions", []) if v.get("IsLatest"))
    else:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        objects = (o for page in pages for o in page.get("Contents", []))
    for obj in objects:
        if since is not None and obj["LastModified"] < since:
            continue
        try:
            parse_incoming_key(obj["Key"], url_encoded=False)
        except InvalidKeyError:
            continue  # never a result either: the handler skips such keys
        yield obj


def s3_notification(bucket: str, obj: dict[str, Any], region: str) -> dict[str, Any]:
    """An ``ObjectCreated`` notification body for one object version, as S3 shapes it (key URL-encoded)."""
    version = obj.get("VersionId")
    record: dict[str, Any] = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": obj["LastModified"].isoformat(),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "lungct-reclassify"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "lungct-reclassify",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {
                "key": quote_plus(obj["Key"], safe="/"),
                "size": int(obj.get("Size", 0)),
                "eTag": str(obj.get("ETag", "")).strip('"'),
                "sequencer": "",
            },
        },
    }
    if version and version != "null":
        record["s3"]["object"]["versionId"] = version
    return {"Records": [record]}


def reclassify(s3: Any, sqs: Any, *, bucket: str, queue_url: str, region: str, study_id: str | None = None,
               since: datetime | None = None) -> int:
    """Enqueue one notification per current object; returns how many were sent."""
    sent = 0
    batch: list[dict[str, str]] = []

    def flush() -> None:
        nonlocal sent
        if not batch:
            return
        resp = sqs.send_message_batch(QueueUrl=queue_url, Entries=batch)
        failed = resp.get("Failed") or []
        if failed:
            raise LungctError(f"{len(failed)} reclassify message(s) were refused by SQS: {failed[0].get('Message', '')}")
        sent += len(batch)
        batch.clear()

    for obj in current_objects(s3, bucket, study_id, since=since):
        batch.append({"Id": uuid.uuid4().hex, "MessageBody": json.dumps(s3_notification(bucket, obj, region))})
        if len(batch) == SQS_BATCH:
            flush()
    flush()
    return sent
