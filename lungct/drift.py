"""Drift: how far serving inputs and predictions have moved from what the model was trained on.

Training stores a reference in ``model.json`` (``card.reference``): class priors of the training
labels and the intensity histogram of the training inputs. Every classified result stores the
same coarse histogram of its own model input. ``lungct drift`` compares the two with the
population stability index,

    PSI = sum over bins of (observed - reference) * ln(observed / reference)

(fractions, each floored at 1e-4 so an empty bin does not divide by zero). Usual reading:
PSI < 0.1 stable, 0.1-0.25 moderate shift (look at it), > 0.25 significant shift (the model sees
data unlike its training set: check the inputs, consider retraining). PSI over fewer than a
hundred images is noisy; the report says how many it used.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from lungct import DISCLAIMER
from lungct.errors import LungctError

INTENSITY_BINS = 16
PSI_FLOOR = 1e-4
PSI_STABLE = 0.1
PSI_SIGNIFICANT = 0.25
MIN_IMAGES = 100


def intensity_histogram(tensor: np.ndarray, bins: int = INTENSITY_BINS) -> list[float]:
    """Fractions of model-input pixels (0..255, first channel) in ``bins`` equal bins."""
    grey = np.asarray(tensor, dtype=np.float32)
    if grey.ndim == 3:
        grey = grey[..., 0]
    counts, _ = np.histogram(grey, bins=bins, range=(0.0, 256.0))
    total = counts.sum()
    return [round(float(c / total), 5) if total else 0.0 for c in counts]


def training_reference(tensors: np.ndarray, labels: Sequence[int], class_names: Sequence[str]) -> dict[str, Any]:
    """``card.reference``: class priors and the mean intensity histogram of the training inputs."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names)).astype(np.float64)
    hists = np.array([intensity_histogram(t) for t in tensors], dtype=np.float64)
    return {
        "images": int(len(tensors)),
        "class_priors": {name: round(float(c / counts.sum()), 5) for name, c in zip(class_names, counts)},
        "intensity_bins": INTENSITY_BINS,
        "intensity_histogram": [round(float(v), 5) for v in hists.mean(axis=0)] if len(hists) else [],
    }


def psi(reference: Sequence[float], observed: Sequence[float]) -> float:
    """Population stability index of two distributions over the same bins (each normalised here)."""
    if len(reference) != len(observed) or not len(reference):
        raise ValueError(f"PSI needs two distributions over the same bins; received {len(reference)} and {len(observed)}")
    ref = np.maximum(np.asarray(reference, dtype=np.float64), 0.0)
    obs = np.maximum(np.asarray(observed, dtype=np.float64), 0.0)
    ref = np.maximum(ref / ref.sum() if ref.sum() > 0 else ref, PSI_FLOOR)
    obs = np.maximum(obs / obs.sum() if obs.sum() > 0 else obs, PSI_FLOOR)
    return float(np.sum((obs - ref) * np.log(obs / ref)))


def psi_status(value: float) -> str:
    if value < PSI_STABLE:
        return "stable"
    if value <= PSI_SIGNIFICANT:
        return "moderate"
    return "significant"


def parse_since(value: str, *, now: datetime | None = None) -> datetime:
    """``7d``, ``24h``, ``30m`` before now, or an ISO date/time (UTC when no zone is given)."""
    now = now or datetime.now(timezone.utc)
    text = (value or "").strip()
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if len(text) > 1 and text[-1] in units and text[:-1].isdigit():
        return now - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise LungctError(f"--since {value!r} is neither a duration (7d, 24h, 30m) nor an ISO date (2025-01-31)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def iso_z(moment: datetime) -> str:
    """The ``processed_at`` format: UTC, milliseconds, ``Z``; compares correctly as a string."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def scan_results(store: Any, since: datetime, *, page_size: int | None = None) -> Iterator[Any]:
    """Results processed at or after ``since``: a paginated scan, the bound as a value, never spliced."""
    kwargs: dict[str, Any] = {
        "TableName": store.table_name,
        "FilterExpression": "#p >= :since",
        "ExpressionAttributeNames": {"#p": "processed_at"},
        "ExpressionAttributeValues": {":since": {"S": iso_z(since)}},
    }
    if page_size:
        kwargs["Limit"] = page_size
    client = store._client  # noqa: SLF001 - the store owns the client; a scan is a read like its others
    while True:
        resp = client.scan(**kwargs)
        for item in resp.get("Items", []):
            yield store._result(item)  # noqa: SLF001
        if "LastEvaluatedKey" not in resp:
            return
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def drift_report(results: Iterable[Any], reference: dict[str, Any], *, since: datetime,
                 model: dict[str, str] | None = None) -> dict[str, Any]:
    """PSI of predicted classes and of input intensities against the training reference."""
    results = list(results)
    classified = [r for r in results if r.status == "CLASSIFIED" and r.label]
    priors: dict[str, float] = dict(reference.get("class_priors") or {})
    report: dict[str, Any] = {
        "since": iso_z(since),
        "model": model or {},
        "images": len(results),
        "classified": len(classified),
        "models_seen": sorted({str(r.model_version) for r in classified}),
        "thresholds": {"stable_below": PSI_STABLE, "significant_above": PSI_SIGNIFICANT},
        "disclaimer": DISCLAIMER,
    }
    if not priors or not reference.get("intensity_histogram"):
        report["error"] = "the serving model's card has no training reference; retrain with this lungct"
        return report
    names = sorted(priors)
    if classified:
        observed = [sum(1 for r in classified if r.label == n) / len(classified) for n in names]
        value = psi([priors[n] for n in names], observed)
        report["predicted_classes"] = {
            "psi": round(value, 4), "status": psi_status(value),
            "observed": {n: round(o, 4) for n, o in zip(names, observed)},
            "reference": {n: priors[n] for n in names},
        }
    hists = [r.intensity_histogram for r in classified if len(r.intensity_histogram or []) == len(reference["intensity_histogram"])]
    if hists:
        observed_hist = np.mean(np.asarray(hists, dtype=np.float64), axis=0)
        value = psi(reference["intensity_histogram"], observed_hist)
        report["input_intensity"] = {
            "psi": round(value, 4), "status": psi_status(value), "images": len(hists),
            "observed": [round(float(v), 4) for v in observed_hist],
            "reference": reference["intensity_histogram"],
        }
    if len(classified) < MIN_IMAGES:
        report["note"] = f"only {len(classified)} classified images since {iso_z(since)}: PSI is noisy below {MIN_IMAGES}"
    return report


def format_report(report: dict[str, Any]) -> str:
    model = report.get("model") or {}
    lines = [f"Drift since {report['since']} against the training reference of "
             f"{model.get('name', '?')} {model.get('version', '?')}: {report['classified']} classified image(s)"]
    if "error" in report:
        lines.append(f"  {report['error']}")
    for key, title in (("predicted_classes", "predicted classes"), ("input_intensity", "input intensities")):
        part = report.get(key)
        if part:
            lines.append(f"  {title:<18} PSI {part['psi']:.3f}  {part['status']}")
    if "predicted_classes" in report:
        part = report["predicted_classes"]
        for name in part["observed"]:
            lines.append(f"    {name:<24} observed {part['observed'][name]:.2f}  training {part['reference'][name]:.2f}")
    if report.get("note"):
        lines.append(f"  note: {report['note']}")
    lines.append(f"  PSI < {PSI_STABLE} stable, {PSI_STABLE}-{PSI_SIGNIFICANT} moderate, > {PSI_SIGNIFICANT} significant shift")
    lines.append(DISCLAIMER)
    return "\n".join(lines)


def serving_card(s3: Any, ssm: Any, parameter: str) -> Any:
    """The current champion's model card (only ``model.json`` is read, not the model)."""
    import json

    from lungct.model.artifact import MODEL_CARD, ModelCard
    from lungct.model.publish import get_pointer, split_s3_uri

    bucket, prefix = split_s3_uri(get_pointer(ssm, parameter))
    body = s3.get_object(Bucket=bucket, Key=prefix.rstrip("/") + "/" + MODEL_CARD)["Body"].read()
    return ModelCard.from_dict(json.loads(body))
