"""Batch metrics in CloudWatch embedded metric format (EMF), for the dashboard and drift alarms.

The handler prints one EMF JSON document per batch to stdout; Lambda ships stdout to CloudWatch
Logs, which turns the document into metrics without any API call. Namespace ``lungct``, one
dimension ``env``. Metric names live in :mod:`lungct.config`, shared with the dashboard.
"""
from __future__ import annotations

import json
import sys
import time
from typing import Any, Iterable, Sequence, TextIO

from lungct.config import (
    METRIC_CLASSIFIED as CLASSIFIED,
    METRIC_DIMENSION as DIMENSION,
    METRIC_IMAGE_LATENCY as IMAGE_LATENCY,
    METRIC_IMAGES as IMAGES,
    METRIC_MEAN_CONFIDENCE as MEAN_CONFIDENCE,
    METRIC_NAMESPACE as NAMESPACE,
    METRIC_NOT_CT_LIKE as NOT_CT_LIKE,
    METRIC_REJECTED as REJECTED,
    METRIC_REVIEW_FLAGGED as REVIEW_FLAGGED,
    predicted_metric,
)


def metric_names(labels: Sequence[str]) -> list[str]:
    """Every metric a batch document may carry (MeanConfidence only when something was classified,
    ImageLatency only when results carry timings)."""
    return [IMAGES, CLASSIFIED, REJECTED, REVIEW_FLAGGED, NOT_CT_LIKE, MEAN_CONFIDENCE,
            *map(predicted_metric, labels), IMAGE_LATENCY]


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
    latencies = [round(sum((r.timings_ms or {}).values()), 2) for r in results if r.timings_ms]
    for label in labels:
        values[predicted_metric(label)] = sum(1 for r in classified if r.label == label)
    units = {MEAN_CONFIDENCE: "None", IMAGE_LATENCY: "Milliseconds"}
    if latencies:  # EMF takes an array: one value per image, so the dashboard gets percentiles
        values[IMAGE_LATENCY] = latencies[:100]  # type: ignore[assignment]
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
