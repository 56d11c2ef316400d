"""Fixtures for the reliability suite: captured JSON logs, uploads, raw SQS bodies, fault injection."""
from __future__ import annotations

import json
import logging
from typing import Any, Iterator
from urllib.parse import quote_plus

import pytest

from lungct.logs import JsonFormatter
from lungct.results import ResultStore


class JsonLogs(logging.Handler):
    """Every record of the 'lungct' logger (which does not propagate), as the JSON line it prints."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    def messages(self) -> list[str]:
        return [e["message"] for e in self.entries]

    def find(self, text: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if text in e["message"]]


@pytest.fixture()
def json_logs() -> Iterator[JsonLogs]:
    logger = logging.getLogger("lungct")
    handler = JsonLogs()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@pytest.fixture()
def store(embedded_aws) -> ResultStore:
    ctx = embedded_aws.context()
    return ResultStore(ctx.client("dynamodb"), ctx.names.results_table)


@pytest.fixture()
def s3(embedded_aws) -> Any:
    return embedded_aws.context().client("s3")


@pytest.fixture()
def sqs(embedded_aws) -> Any:
    return embedded_aws.context().client("sqs")


@pytest.fixture()
def bucket(embedded_aws) -> str:
    return embedded_aws.context().names.images_bucket


def s3_event_body(bucket: str, key: str, etag: str, size: int, *, version_id: str | None = None) -> str:
    """An S3 ObjectCreated notification as S3 sends it (moto's shape; real S3 adds versionId)."""
    obj: dict[str, Any] = {"key": quote_plus(key, safe=""), "size": size, "eTag": etag.strip('"')}
    if version_id:
        obj["versionId"] = version_id
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-12-04T10:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
    }]})


def record_handler(worker) -> list[dict[str, Any]]:
    """Wrap the worker's handler; returns the list its responses are appended to."""
    responses: list[dict[str, Any]] = []
    inner = worker._handler

    def recording(event: dict[str, Any], context: Any) -> dict[str, Any]:
        response = inner(event, context)
        responses.append({"records": len(event["Records"]), **response})
        return response

    worker._handler = recording
    return responses


@pytest.fixture()
def faults() -> Iterator[Any]:
    """Build an injector on boto3's default session; the handler (rebuilt cold) gets its hooks."""
    import boto3

    import lambda_infer.handler as handler_module
    from lungct.local.faults import FaultInjector

    made: list[FaultInjector] = []

    def install(spec: str, seed: int = 0) -> FaultInjector:
        injector = FaultInjector.from_spec(spec, seed=seed).attach(boto3._get_default_session())
        handler_module._service = None  # the next invocation builds its clients with the hooks
        made.append(injector)
        return injector

    yield install
    for injector in made:
        injector.detach()
    handler_module._service = None
