"""The serving path, as the data flows: fetch -> decode -> preprocess -> predict -> store.

Used by the Lambda handler (and so by the local worker); it knows nothing about SQS. Each object
ends in exactly one :class:`Outcome`: a written result (classified or rejected), a duplicate or
stale delivery that needs no work, an object that no longer exists, or a transient failure that
the queue should retry.
"""
from __future__ import annotations

import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from lungct import drift, heatmap, review
from lungct.errors import ImageRejected, TransientError
from lungct.events import ObjectRef
from lungct.imaging import DecodedImage, ImageLimits, decode, preprocess_decoded
from lungct.imaging.limits import DEFAULT_LIMITS
from lungct.logs import get_logger
from lungct.model.runtime import Classifier, Prediction, available_cpus
from lungct.results import CLASSIFIED, REJECTED, ResultItem, ResultStore, sequencer_key

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
    heatmap_png: bytes | None = None  # overlay to upload with the result


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


def _superseded(ref: ObjectRef, etag: str, version_id: str) -> bool:
    """The event names another version than the current one (by version id, else by etag)."""
    if ref.version_id and version_id:
        return ref.version_id != version_id
    event_etag = ref.etag.strip('"')
    return bool(event_etag and etag and event_etag != etag)


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
        heatmaps: bool = False,
        ood_thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self._s3 = s3
        self.store = store
        self.review_confidence = review_confidence
        self.limits = limits
        self.heatmaps = heatmaps
        self.ood_overrides = dict(ood_thresholds or {})
        self._pool = ThreadPoolExecutor(max_workers=io_workers or max(4, 2 * available_cpus()))

    def run(self, refs: list[ObjectRef], classifier: Classifier) -> list[Outcome]:
        """One outcome per ref, in order."""
        if not refs:
            return []
        # The same object version twice in this batch is worked once (known from the events alone).
        first_of: dict[tuple[str, str, str], int] = {}
        repeats: dict[int, int] = {}
        for i, ref in enumerate(refs):
            ident = (ref.bucket, ref.key.key, ref.version_id or ref.etag.strip('"'))
            if ident[2] and ident in first_of:
                repeats[i] = first_of[ident]
            else:
                first_of.setdefault(ident, i)
        unique = [i for i in range(len(refs)) if i not in repeats]
        # The duplicate lookup and the first downloads start together on the pool; a duplicate's
        # download is cancelled before it starts (or, if already running, its result is dropped).
        lookup = self._pool.submit(self.store.get_many, [(r.study_id, r.image) for r in refs])
        fetches = {i: self._pool.submit(self._fetch, refs[i], classifier) for i in unique}
        existing = lookup.result()
        outcomes: list[Outcome | None] = [None] * len(refs)
        todo: list[int] = []
        for i in unique:
            prior = existing.get((refs[i].study_id, refs[i].image))
            if prior is not None and self._same_work(prior, refs[i], classifier):
                fetches[i].cancel()
                outcomes[i] = Outcome(refs[i], DUPLICATE, prior)
            else:
                todo.append(i)
        # Downloads and decodes run ahead on the pool while this thread classifies what has arrived
        # (the interpreter releases the GIL); each result is stored on the pool as soon as it exists.
        writes = []
        for i in todo:
            f = fetches[i].result()
            for pred, timing in self._predict([f] if f.tensor is not None else [], classifier):
                f.timings_ms.update(timing)
                f.outcome = Outcome(f.ref, WRITTEN, self._classified(f, pred, classifier, existing))
            if f.outcome is None:  # decoded to a rejection
                f.outcome = Outcome(f.ref, WRITTEN, self._rejected(f, classifier, existing))
            writes.append(self._pool.submit(self._write, f))
        for i, write in zip(todo, writes):
            outcomes[i] = write.result()
        for i, j in repeats.items():
            first = outcomes[j]
            assert first is not None
            status = FAILED if first.status == FAILED else DUPLICATE
            outcomes[i] = Outcome(refs[i], status, first.result, first.error)
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
        # Always the current version: a late event for an older upload must not store the older
        # image's result over the newer one (S3 LastModified has whole seconds, so the store's
        # condition alone cannot order two uploads within a second).
        kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key.key}
        try:
            resp = self._s3.get_object(**kwargs)
            f.etag = str(resp.get("ETag", "")).strip('"')
            f.version_id = str(resp.get("VersionId") or "")
            if f.version_id == "null":
                f.version_id = ""
            if _superseded(ref, f.etag, f.version_id):
                resp["Body"].close()
                log.info("event for an older upload; the newer upload's own event writes the result",
                         extra={"study_id": ref.study_id, "image": ref.image})
                f.outcome = Outcome(ref, STALE, error="superseded by a newer upload of the same key")
                return f
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
        except Exception as exc:  # a decoder bug must cost this file, not the whole batch
            # Type and place only: a decoder's message may quote header values (patient data).
            tb = traceback.extract_tb(exc.__traceback__)[-1:] or [None]
            where = f"{tb[0].filename.rsplit('/', 1)[-1]}:{tb[0].lineno}" if tb[0] else "?"
            log.error("decoder failed; stored as rejected", extra={
                "study_id": ref.study_id, "image": ref.image, "error_type": type(exc).__name__, "where": where})
            f.rejected = ImageRejected("decode_error", f"the file could not be decoded ({type(exc).__name__}); "
                                       "check that it is a valid PNG, JPEG or DICOM slice")
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
            source_sequencer=sequencer_key(f.ref.sequencer),
            model_name=card.name,
            model_version=card.version,
            model_sha256=card.sha256,
            preprocessing_id=card.preprocessing_id,
            runtime=f"{card.runtime}:{card.quantization}",
            thresholds=self._thresholds(classifier),
            previous_model_version=previous,
            input_format=f.image.format if f.image is not None else None,
            dicom=dict(f.image.dicom) if f.image is not None else {},
            timings_ms={k: round(v, 2) for k, v in f.timings_ms.items()},
        )

    def _threshold(self, classifier: Classifier) -> float:
        return float(classifier.card.thresholds.get("review_confidence", self.review_confidence))

    def _thresholds(self, classifier: Classifier) -> dict[str, float]:
        card = classifier.card.thresholds
        return {
            "review_confidence": self._threshold(classifier),
            "finding_probability": float(card.get("finding_probability", 0.5)),
            **review.effective_thresholds(card, self.ood_overrides),
        }

    def _classified(self, f: _Fetched, pred: Prediction, classifier: Classifier, existing: dict) -> ResultItem:
        item = self._base(f, classifier, existing, CLASSIFIED)
        item.label = pred.label
        item.confidence = pred.confidence
        item.probabilities = pred.probabilities
        if pred.confidence < self._threshold(classifier):
            item.needs_review = True
            item.review_reasons.append(review.LOW_CONFIDENCE)
        assert f.image is not None and f.tensor is not None
        not_ct, item.image_stats = review.ood_reasons(f.image, item.thresholds)
        item.needs_review = item.needs_review or bool(not_ct)
        item.review_reasons.extend(not_ct)
        item.intensity_histogram = drift.intensity_histogram(f.tensor)
        if self.heatmaps:
            f.heatmap_png = self._heatmap(f, pred, classifier)
            item.heatmap_key = heatmap.heatmap_key(f.ref.study_id, f.ref.image) if f.heatmap_png else None
        return item

    @staticmethod
    def _heatmap(f: _Fetched, pred: Prediction, classifier: Classifier) -> bytes | None:
        """Overlay PNG of the predicted class's activation map; None when the artifact lacks the head."""
        head = heatmap.load_head(classifier.directory, classifier.card.sha256)
        if head is None or pred.features is None or f.image is None:
            return None
        cam = heatmap.class_activation_map(pred.features, head[0], classifier.card.labels.index(pred.label))
        return heatmap.overlay_png(f.image.pixels, cam)

    def _write_heatmap(self, f: _Fetched) -> None:
        """Best effort: a failed upload drops the key, never the result."""
        outcome = f.outcome
        if outcome is None or outcome.result is None or not outcome.result.heatmap_key or f.heatmap_png is None:
            return
        try:
            self._s3.put_object(Bucket=f.ref.bucket, Key=outcome.result.heatmap_key, Body=f.heatmap_png,
                                ContentType="image/png")
        except Exception as exc:
            log.warning("heatmap upload failed", extra={"study_id": f.ref.study_id, "image": f.ref.image,
                                                        "error": _error_code(exc) or type(exc).__name__})
            outcome.result.heatmap_key = None

    def _rejected(self, f: _Fetched, classifier: Classifier, existing: dict) -> ResultItem:
        item = self._base(f, classifier, existing, REJECTED)
        assert f.rejected is not None
        item.reason_code = f.rejected.code
        item.reason = f.rejected.message
        return item

    def _write(self, f: _Fetched) -> Outcome:
        """The overlay first (a failed upload drops its key from the result), then the result."""
        assert f.outcome is not None
        if self.heatmaps and f.heatmap_png:
            self._write_heatmap(f)
        return self._store(f.outcome)

    def _store(self, outcome: Outcome) -> Outcome:
        if outcome.status != WRITTEN or outcome.result is None:
            return outcome
        try:
            written = self.store.put(outcome.result)
        except Exception as exc:
            code = _error_code(exc)
            return Outcome(outcome.ref, FAILED, outcome.result, f"DynamoDB error {code or type(exc).__name__}")
        return outcome if written else Outcome(outcome.ref, STALE, outcome.result)
