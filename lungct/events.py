"""Wire shapes: SQS records whose bodies are S3 event notifications.

A body may be an S3 event (one or more records), the ``s3:TestEvent`` that S3 sends when a
notification is configured, or something malformed. Only the first kind carries work; the others
are acknowledged with a log line, never retried.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lungct.errors import InvalidKeyError, LungctError
from lungct.keys import IncomingKey, parse_incoming_key


class MalformedMessage(LungctError):
    """An SQS body that is no S3 notification; retrying it cannot help."""


@dataclass(frozen=True)
class ObjectRef:
    """One uploaded object to classify."""

    bucket: str
    key: IncomingKey
    etag: str = ""
    version_id: str = ""
    size: int = 0
    sequencer: str = ""
    event_time: str = ""

    @property
    def study_id(self) -> str:
        return self.key.study_id

    @property
    def image(self) -> str:
        return self.key.image


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str
    objects: list[ObjectRef]
    skipped: list[str]  # human-readable reasons for records we acknowledged without work
    test_event: bool = False


def parse_sqs_record(record: dict[str, Any]) -> ParsedMessage:
    """Parse one SQS record; raises MalformedMessage for bodies that are not S3 notifications."""
    message_id = str(record.get("messageId", ""))
    try:
        body = json.loads(record.get("body") or "")
    except (TypeError, json.JSONDecodeError) as exc:
        raise MalformedMessage(f"message {message_id}: body is not JSON") from exc
    if not isinstance(body, dict):
        raise MalformedMessage(f"message {message_id}: body is not a JSON object")
    if body.get("Event") == "s3:TestEvent":
        return ParsedMessage(message_id, [], [], test_event=True)
    records = body.get("Records")
    if not isinstance(records, list):
        raise MalformedMessage(f"message {message_id}: body has no S3 'Records' list")
    objects: list[ObjectRef] = []
    skipped: list[str] = []
    for rec in records:
        try:
            objects.append(_object_ref(rec))
        except InvalidKeyError as exc:
            skipped.append(str(exc))
        except (KeyError, TypeError, AttributeError) as exc:
            raise MalformedMessage(f"message {message_id}: S3 record lacks {exc}") from exc
    return ParsedMessage(message_id, objects, skipped)


def _object_ref(rec: dict[str, Any]) -> ObjectRef:
    name = str(rec.get("eventName", ""))
    if not name.startswith("ObjectCreated"):
        raise InvalidKeyError(f"event {name or '?'} is not an ObjectCreated event")
    s3 = rec["s3"]
    obj = s3["object"]
    return ObjectRef(
        bucket=s3["bucket"]["name"],
        key=parse_incoming_key(obj["key"], url_encoded=True),
        etag=str(obj.get("eTag", "") or ""),
        version_id=str(obj.get("versionId", "") or ""),
        size=int(obj.get("size", 0) or 0),
        sequencer=str(obj.get("sequencer", "") or ""),
        event_time=str(rec.get("eventTime", "") or ""),
    )
