"""What the Lambda functions run, assembled once per container from the environment.

``InferenceService.handle`` takes a Lambda SQS event (bodies are S3 notifications) and returns
the partial batch response: only records with a transient failure are reported, so SQS redelivers
those alone and, after the configured receives, moves them to the dead-letter queue.
"""
from __future__ import annotations

from typing import Any

from lungct.config import RuntimeSettings
from lungct.events import MalformedMessage, parse_sqs_record
from lungct import metrics
from lungct.inference import FAILED, WRITTEN, InferencePipeline
from lungct.logs import get_logger
from lungct.model.publish import ModelProvider
from lungct.results import ResultStore

log = get_logger("lungct.service")


def _clients() -> tuple[Any, Any, Any]:
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 4, "mode": "adaptive"}, max_pool_connections=32)
    return boto3.client("s3", config=config), boto3.client("dynamodb", config=config), boto3.client("ssm", config=config)


class InferenceService:
    def __init__(self, settings: RuntimeSettings, s3: Any, dynamodb: Any, ssm: Any) -> None:
        self.settings = settings
        self.store = ResultStore(dynamodb, settings.results_table)
        self.models = ModelProvider(s3, ssm, settings.model_parameter, ttl_s=settings.pointer_ttl_s)
        self.pipeline = InferencePipeline(s3, self.store, review_confidence=settings.review_confidence,
                                          heatmaps=settings.heatmaps, ood_thresholds=settings.ood_thresholds)

    @classmethod
    def from_environment(cls) -> InferenceService:
        return cls(RuntimeSettings.from_environ(), *_clients())

    def handle(self, event: dict[str, Any]) -> dict[str, Any]:
        refs, owners = [], []
        for record in event.get("Records", []):
            try:
                message = parse_sqs_record(record)
            except MalformedMessage as exc:
                log.warning("malformed message acknowledged without retry", extra={"detail": str(exc)})
                continue
            if message.test_event:
                log.info("s3:TestEvent acknowledged", extra={"message_id": message.message_id})
                continue
            for reason in message.skipped:
                log.warning("S3 record skipped", extra={"message_id": message.message_id, "detail": reason})
            for obj in message.objects:
                refs.append(obj)
                owners.append(message.message_id)
        failed: list[str] = []
        if refs:
            try:
                classifier = self.models.get()
            except Exception:
                log.exception("serving model unavailable; the batch will be retried")
                failed = list(dict.fromkeys(owners))
            else:
                outcomes = self.pipeline.run(refs, classifier)
                counts: dict[str, int] = {}
                for owner, outcome in zip(owners, outcomes):
                    counts[outcome.status] = counts.get(outcome.status, 0) + 1
                    if outcome.status == FAILED:
                        failed.append(owner)
                        log.warning(
                            "object failed; message will be retried",
                            extra={"study_id": outcome.ref.study_id, "image": outcome.ref.image, "error": outcome.error},
                        )
                metrics.emit(metrics.batch_document(
                    self.settings.env, [o.result for o in outcomes if o.status == WRITTEN], classifier.card.labels,
                    model_version=classifier.card.version))
                log.info("batch done", extra={"objects": len(refs), "outcomes": counts, "model_version": classifier.card.version})
        return {"batchItemFailures": [{"itemIdentifier": mid} for mid in dict.fromkeys(failed)]}
