"""Zip Lambda behind the IAM-authorised HTTP API: ``GET /studies/{study_id}``."""
from __future__ import annotations

from typing import Any

from lungct.config import RuntimeSettings
from lungct.query import handle_study_request
from lungct.results import ResultStore

_store: ResultStore | None = None


def _get_store() -> ResultStore:
    global _store
    if _store is None:
        import boto3

        _store = ResultStore(boto3.client("dynamodb"), RuntimeSettings.from_environ().results_table)
    return _store


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_study_request(event, _get_store())
