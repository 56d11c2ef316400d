"""Study queries: what the HTTP API and ``lungct results`` answer."""
from __future__ import annotations

import json
from typing import Any

from lungct import DISCLAIMER
from lungct.errors import InvalidKeyError
from lungct.keys import validate_study_id
from lungct.results import ResultStore, study_response


def study_document(store: ResultStore, study_id: str) -> dict[str, Any]:
    validate_study_id(study_id)
    return study_response(study_id, store.query_study(study_id))


def http_response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json", "cache-control": "no-store"},
        "body": json.dumps(body, default=str),
    }


def handle_study_request(event: dict[str, Any], store: ResultStore) -> dict[str, Any]:
    """API Gateway HTTP API (payload 2.0) ``GET /studies/{study_id}``."""
    study_id = (event.get("pathParameters") or {}).get("study_id", "")
    try:
        document = study_document(store, study_id)
    except InvalidKeyError as exc:
        return http_response(400, {"message": str(exc), "disclaimer": DISCLAIMER})
    if not document["images"]:
        return http_response(404, {"message": f"no results for study {study_id}", "disclaimer": DISCLAIMER})
    return http_response(200, document)
