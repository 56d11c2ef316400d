"""The serving path, as the data flows: fetch -> decode -> preprocess -> predict -> store.

Used by the Lambda handler (and so by the local worker); it knows nothing about SQS. Each object
ends in exactly one :class:`Outcome`: a written result (classified or rejected), a duplicate or
stale delivery that needs no work, an object that no longer exists, or a transient failure that
the queue should retry.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lungct.errors import ImageRejected, TransientError
from lungct.events import ObjectRef
from lungct.imaging import DecodedImage, ImageLimits, decode, preprocess_decoded
from lungct.imaging.limits import DEFAULT_LIMITS
from lungct.logs import get_logger
from lungct.model.runtime import Classifier, Prediction, available_cpus
from lungct.results import CLASSIFIED, REJECTED, ResultItem, ResultStore

log = get_logger("lungct.inference")

WRITTEN = "written"
DUPLICATE = "duplicate"
STALE = "stale"
GONE = "gone"
FAILED = "failed"

_GONE_CODES = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
_TRANSIENT_CODES = {
    "Throttling", "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "SlowDown", "ServiceUnavailable", "InternalError", "InternalServerError", "RequestTimeout",
    "TransactionConflictException", "503", "500",
}


@dataclass
class Outcome:
    ref: ObjectRef
    status: str
    result: ResultItem | None = None
    error: str | None = None


@dataclass
class _Fetched:
    ref: ObjectRef
    etag: str = ""
    version_id: str = ""
    modified: str = ""
    image: DecodedImage | None = None
    tensor: np.ndarray | None = None
    rejected: ImageRejected | None = None
    outcome: Outcome | None = None  # set when this object ends before prediction
    timings_ms: dict[str, float] = field(default_factory=dict)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code") or status or "")


def is_transient(exc: Exception) -> bool:
    """Throttling, 5xx and connection trouble: worth a retry through the queue."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import ReadTimeoutError

    if isinstance(exc, (TransientError, BotoConnectionError, ReadTimeoutError, ConnectionError, TimeoutError)):
        return True
    code = _error_code(exc)
    status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return code in _TRANSIENT_CODES or int(status) >= 500


class InferencePipeline:
    """Classifies a batch of uploaded objects and stores one result per object."""

    def __init__(
        self,
        s3: Any,
        store: ResultStore,
        *,
        review_confidence: float = 0.6,
        limits: ImageLimits = DEFAULT_LIMITS,
        io_workers: int | None = None,
    ) -> None:
        self._s3 = s3
        self.store = store
        self.review_confidence = review_confidence
        self.limits = limits
        self._pool = ThreadPoolExecutor(max_workers=io_workers or max(4, 2 * available_cpus()))

    def run(self, refs: list[ObjectRef], classifier: Classifier) -> list[Outcome]:
        """One outcome per ref, in order."""
        if not refs:
            return []
        # The duplicate lookup and the first downloads start together on the pool; a duplicate's
        # download is cancelled before it starts (or, if already running, its result is dropped).
        lookup = self._pool.submit(self.store.get_many, [(r.study_id, r.image) for r in refs])
        fetches = [self._pool.submit(self._fetch, ref, classifier) for ref in refs]
        existing = lookup.result()
        outcomes: list[Outcome | None] = [None] * len(refs)
        todo: list[int] = []
        for i, ref in enumerate(refs):
            prior = existing.get((ref.study_id, ref.image))
            if prior is not None and self._same_work(prior, ref, classifier):
                fetches[i].cancel()
                outcomes[i] = Outcome(ref, DUPLICATE, prior)
            else:
                todo.append(i)
        # Downloads and decodes run ahead on the pool while this thread classifies what has arrived
        # (the interpreter releases the GIL); each result is stored on the pool as soon as it exists.
        stores = []
        for i in todo:
            f = fetches[i].result()
            for pred, timing in self._predict([f] if f.tensor is not None else [], classifier):
                f.timings_ms.update(timing)
                f.outcome = Outcome(f.ref, WRITTEN, self._classified(f, pred, classifier, existing))
            if f.outcome is None:  # decoded to a rejection
                f.outcome = Outcome(f.ref, WRITTEN, self._rejected(f, classifier, existing))
            stores.append(self._pool.submit(self._store, f.outcome))
        for i, store in zip(todo, stores):
            outcomes[i] = store.result()
        return [o for o in outcomes if o is not None]

    @staticmethod
    def _same_work(prior: ResultItem, ref: ObjectRef, classifier: Classifier) -> bool:
        same_version = (
            (ref.version_id and prior.source_version_id == ref.version_id)
            or (not ref.version_id and ref.etag and prior.source_etag == ref.etag.strip('"'))
        )
        return bool(same_version) and prior.model_sha256 == classifier.card.sha256

    def _fetch(self, ref: ObjectRef, classifier: Classifier) -> _Fetched:
        f = _Fetched(ref)
        t0 = time.perf_counter()
        kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key.key}
        if ref.version_id:
            kwargs["VersionId"] = ref.version_id
        try:
            resp = self._s3.get_object(**kwargs)
            f.etag = str(resp.get("ETag", "")).strip('"')
            f.version_id = str(resp.get("VersionId") or "")
            if f.version_id == "null":
                f.version_id = ""
            modified = resp.get("LastModified")
            f.modified = modified.isoformat() if modified is not None else ""
            length = int(resp.get("ContentLength") or 0)
            if length > self.limits.max_bytes:
                resp["Body"].close()
                self.limits.check_length(length)
            data = resp["Body"].read()
        except ImageRejected as exc:
            f.rejected = exc
            return f
        except Exception as exc:
            code = _error_code(exc)
            if code in _GONE_CODES:
                log.warning("object gone before processing; acknowledged", extra={"study_id": ref.study_id, "image": ref.image})
                f.outcome = Outcome(ref, GONE, error=f"object no longer exists ({code})")
            elif is_transient(exc):
                f.outcome = Outcome(ref, FAILED, error=f"transient S3 error {code or type(exc).__name__}")
            else:
                f.outcome = Outcome(ref, FAILED, error=f"S3 error {code or type(exc).__name__}")
            return f
        t1 = time.perf_counter()
        params = classifier.params
        try:
            f.image = decode(data, limits=self.limits, window_center=params.window_center, window_width=params.window_width)
            f.tensor = preprocess_decoded(f.image, params)
        except ImageRejected as exc:
            f.rejected = exc
        f.timings_ms = {"download": (t1 - t0) * 1000.0, "decode": (time.perf_counter() - t1) * 1000.0}
        return f

    @staticmethod
    def _predict(ready: list[_Fetched], classifier: Classifier) -> list[tuple[Prediction, dict[str, float]]]:
        if not ready:
            return []
        t0 = time.perf_counter()
        preds = classifier.predict(np.stack([f.tensor for f in ready]))
        per_image = (time.perf_counter() - t0) * 1000.0 / len(ready)
        return [(p, {"predict": per_image}) for p in preds]

    def _base(self, f: _Fetched, classifier: Classifier, existing: dict[tuple[str, str], ResultItem], status: str) -> ResultItem:
        card = classifier.card
        prior = existing.get((f.ref.study_id, f.ref.image))
        previous = prior.model_version if prior is not None and prior.model_sha256 != card.sha256 else None
        return ResultItem(
            study_id=f.ref.study_id,
            image=f.ref.image,
            status=status,
            source_bucket=f.ref.bucket,
            source_key=f.ref.key.key,
            source_etag=f.etag or f.ref.etag.strip('"'),
            source_version_id=f.version_id or f.ref.version_id,
            source_modified=f.modified,
            model_name=card.name,
            model_version=card.version,
            model_sha256=card.sha256,
            preprocessing_id=card.preprocessing_id,
            runtime=f"{card.runtime}:{card.quantization}",
            thresholds={"review_confidence": self._threshold(classifier)},
            previous_model_version=previous,
            input_format=f.image.format if f.image is not None else None,
            dicom=dict(f.image.dicom) if f.image is not None else {},
            timings_ms={k: round(v, 2) for k, v in f.timings_ms.items()},
        )

    def _threshold(self, classifier: Classifier) -> float:
        return float(classifier.card.thresholds.get("review_confidence", self.review_confidence))

    def _classified(self, f: _Fetched, pred: Prediction, classifier: Classifier, existing: dict) -> ResultItem:
        item = self._base(f, classifier, existing, CLASSIFIED)
        item.label = pred.label
        item.confidence = pred.confidence
        item.probabilities = pred.probabilities
        if pred.confidence < self._threshold(classifier):
            item.needs_review = True
            item.review_reasons.append("low_confidence")
        return item

    def _rejected(self, f: _Fetched, classifier: Classifier, existing: dict) -> ResultItem:
        item = self._base(f, classifier, existing, REJECTED)
        assert f.rejected is not None
        item.reason_code = f.rejected.code
        item.reason = f.rejected.message
        return item

    def _store(self, outcome: Outcome) -> Outcome:
        if outcome.status != WRITTEN or outcome.result is None:
            return outcome
        try:
            written = self.store.put(outcome.result)
        except Exception as exc:
            code = _error_code(exc)
            return Outcome(outcome.ref, FAILED, outcome.result, f"DynamoDB error {code or type(exc).__name__}")
        return outcome if written else Outcome(outcome.ref, STALE, outcome.result)
