"""The result item (one per image) and the DynamoDB store that keeps it.

Key: ``study_id`` (partition) + ``image`` (sort). Writes are conditional on the source object's
last-modified time, so a late delivery of an older object version never overwrites the result of a
newer one, while the same version processed twice leaves one result. Patient data never enters an
item: DICOM contributes only study, series and instance UIDs.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from lungct import DISCLAIMER
from lungct.keys import validate_study_id

CLASSIFIED = "CLASSIFIED"
REJECTED = "REJECTED"
STATUSES = (CLASSIFIED, REJECTED)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class ResultItem:
    study_id: str
    image: str
    status: str
    source_bucket: str
    source_key: str
    source_etag: str = ""
    source_version_id: str = ""
    source_modified: str = ""
    source_sequencer: str = ""  # S3's per-key event order, right-padded (see sequencer_key)
    label: str | None = None
    probabilities: dict[str, float] = field(default_factory=dict)
    confidence: float | None = None
    needs_review: bool = False
    review_reasons: list[str] = field(default_factory=list)
    reason: str | None = None
    reason_code: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    model_sha256: str | None = None
    preprocessing_id: str | None = None
    runtime: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    previous_model_version: str | None = None
    input_format: str | None = None
    dicom: dict[str, str] = field(default_factory=dict)
    heatmap_key: str | None = None
    image_stats: dict[str, float] = field(default_factory=dict)  # what the not-CT-like check measured
    intensity_histogram: list[float] = field(default_factory=list)  # model input, 16 bins on 0..255 (drift)
    timings_ms: dict[str, float] = field(default_factory=dict)
    processed_at: str = field(default_factory=utc_now)

    @property
    def source_version(self) -> str:
        """What identifies the object version: version id when versioned, else the etag."""
        return self.source_version_id or self.source_etag

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ResultItem:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


SEQUENCER_WIDTH = 64


def sequencer_key(sequencer: str) -> str:
    """S3 sequencers differ in length: right-padded with zeros they compare as strings (AWS's rule)."""
    return sequencer.upper().ljust(SEQUENCER_WIDTH, "0") if sequencer else ""


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(round(value, 6)))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() and "." not in str(value) else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


class ResultStore:
    """Results of one environment's table, through the real DynamoDB API."""

    def __init__(self, dynamodb_client: Any, table_name: str) -> None:
        self._client = dynamodb_client
        import boto3.dynamodb.types as types

        self._ser = types.TypeSerializer()
        self._de = types.TypeDeserializer()
        self.table_name = table_name

    def _item(self, result: ResultItem) -> dict[str, Any]:
        plain = {k: v for k, v in _to_dynamo(result.to_json()).items() if v is not None}
        return {k: self._ser.serialize(v) for k, v in plain.items()}

    def _result(self, item: dict[str, Any]) -> ResultItem:
        return ResultItem.from_json(_from_dynamo({k: self._de.deserialize(v) for k, v in item.items()}))

    def put(self, result: ResultItem) -> bool:
        """Write unless a result from a newer object version is stored; False when skipped as stale.

        Newer means a later last-modified time, or, within the same second (S3's resolution), a
        greater S3 event sequencer when both results carry one.
        """
        names = {"#img": "image", "#mod": "source_modified"}
        values = {":mod": {"S": result.source_modified}}
        condition = "attribute_not_exists(#img) OR #mod <= :mod"
        if result.source_sequencer:
            condition = ("attribute_not_exists(#img) OR #mod < :mod OR "
                         "(#mod = :mod AND (attribute_not_exists(#seq) OR #seq <= :seq))")
            names["#seq"] = "source_sequencer"
            values[":seq"] = {"S": result.source_sequencer}
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=self._item(result),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get(self, study_id: str, image: str) -> ResultItem | None:
        resp = self._client.get_item(
            TableName=self.table_name,
            Key={"study_id": {"S": validate_study_id(study_id)}, "image": {"S": image}},
            ConsistentRead=True,
        )
        return self._result(resp["Item"]) if "Item" in resp else None

    def get_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], ResultItem]:
        """Existing results for (study_id, image) pairs, in batches of 100."""
        found: dict[tuple[str, str], ResultItem] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 100):
            request = {
                self.table_name: {
                    "Keys": [{"study_id": {"S": s}, "image": {"S": i}} for s, i in unique[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while request:
                resp = self._client.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self.table_name, []):
                    result = self._result(item)
                    found[(result.study_id, result.image)] = result
                request = resp.get("UnprocessedKeys") or {}
        return found

    def query_study(self, study_id: str) -> list[ResultItem]:
        """Every result of a study, sorted by image path. The study ID is a bound value, never spliced."""
        items: list[ResultItem] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "study_id = :s",
            "ExpressionAttributeValues": {":s": {"S": validate_study_id(study_id)}},
            "ConsistentRead": True,
        }
        while True:
            resp = self._client.query(**kwargs)
            items.extend(self._result(i) for i in resp.get("Items", []))
            if "LastEvaluatedKey" not in resp:
                break
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return sorted(items, key=lambda r: r.image)


def study_response(study_id: str, results: list[ResultItem]) -> dict[str, Any]:
    """The JSON shape shared by ``lungct results --json`` and the HTTP API."""
    from lungct.summary import summarize

    return {
        "study_id": study_id,
        "disclaimer": DISCLAIMER,
        "summary": summarize(results),
        "images": [r.to_json() for r in results],
    }


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False, default=str)
