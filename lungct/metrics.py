"""Batch metrics in CloudWatch embedded metric format (EMF), for the dashboard and drift alarms.

The handler prints one EMF JSON document per batch to stdout; Lambda ships stdout to CloudWatch
Logs, which turns the document into metrics without any API call. Namespace ``lungct``, one
dimension ``env``. Metric names are constants here, so the dashboard can import them.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Iterable, Sequence, TextIO

NAMESPACE = "lungct"
DIMENSION = "env"
IMAGES = "ImagesWritten"
CLASSIFIED = "Classified"
REJECTED = "Rejected"
REVIEW_FLAGGED = "ReviewFlagged"
NOT_CT_LIKE = "NotCtLike"
MEAN_CONFIDENCE = "MeanConfidence"
PREDICTED_PREFIX = "Predicted_"  # + label, e.g. Predicted_adenocarcinoma


def predicted_metric(label: str) -> str:
    return f"{PREDICTED_PREFIX}{label}"


def metric_names(labels: Sequence[str]) -> list[str]:
    """Every metric a batch document may carry (MeanConfidence only when something was classified)."""
    return [IMAGES, CLASSIFIED, REJECTED, REVIEW_FLAGGED, NOT_CT_LIKE, MEAN_CONFIDENCE, *map(predicted_metric, labels)]


def batch_document(env: str, results: Iterable[Any], labels: Sequence[str], *,
                   model_version: str | None = None, timestamp_ms: int | None = None) -> dict[str, Any]:
    """One EMF document for the results written by a batch."""
    results = [r for r in results if r is not None]
    classified = [r for r in results if r.status == "CLASSIFIED"]
    values: dict[str, float] = {
        IMAGES: len(results),
        CLASSIFIED: len(classified),
        REJECTED: len(results) - len(classified),
        REVIEW_FLAGGED: sum(1 for r in results if r.needs_review),
        NOT_CT_LIKE: sum(1 for r in results if any(x.startswith("not_ct_like:") for x in r.review_reasons)),
    }
    confidences = [float(r.confidence) for r in classified if r.confidence is not None]
    if confidences:
        values[MEAN_CONFIDENCE] = round(sum(confidences) / len(confidences), 4)
    for label in labels:
        values[predicted_metric(label)] = sum(1 for r in classified if r.label == label)
    units = {MEAN_CONFIDENCE: "None"}
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": [{"Name": name, "Unit": units.get(name, "Count")} for name in values],
            }],
        },
        DIMENSION: env,
        "model_version": model_version or "",
        **values,
    }


def emit(document: dict[str, Any], stream: TextIO | None = None) -> None:
    """One line of JSON on stdout: what CloudWatch Logs parses as EMF."""
    print(json.dumps(document, separators=(",", ":")), file=stream or sys.stdout, flush=True)
