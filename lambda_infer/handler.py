"""Container Lambda: an SQS batch of S3 notifications -> one result per image in DynamoDB."""
from __future__ import annotations

from typing import Any

from lungct.service import InferenceService

_service: InferenceService | None = None


def _get_service() -> InferenceService:
    """Built on first use, then reused by every invocation of this container."""
    global _service
    if _service is None:
        _service = InferenceService.from_environment()
    return _service


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _get_service().handle(event)
