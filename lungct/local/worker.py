"""Play the Lambda event source mapping against the embedded AWS.

Receive batches from the queue, call the real ``lambda_infer.handler`` with a Lambda-shaped SQS
event, delete what succeeded and leave reported failures to become visible again (and, after the
queue's receive limit, to move to the dead-letter queue), as the managed mapping does.
"""
from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from lungct.aws import AwsContext
from lungct.local.faults import install_from_environ
from lungct.logs import get_logger

log = get_logger("lungct.worker")


@dataclass
class WorkerStats:
    batches: int = 0
    received: int = 0
    deleted: int = 0
    failed: int = 0
    seconds: float = 0.0
    receipts: list[str] = field(default_factory=list, repr=False)


class _Context:
    """The parts of a Lambda context object that handlers use."""

    def __init__(self, function_name: str, timeout_s: float) -> None:
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 3008
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping sends."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


def _default_handler() -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    from lambda_infer.handler import handler

    return handler


class Worker:
    def __init__(
        self,
        ctx: AwsContext,
        *,
        batch_size: int = 10,
        handler: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None,
    ) -> None:
        self.ctx = ctx
        self.batch_size = min(10, batch_size)
        self._configure_handler_environment()
        # LUNGCT_FAULTS (local only): transient faults on the clients the handler builds next.
        self.faults = install_from_environ()
        self._handler = handler or _default_handler()
        sqs = ctx.client("sqs")
        self.queue_url = sqs.get_queue_url(QueueName=ctx.names.queue)["QueueUrl"]
        self.queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.stats = WorkerStats()

    def _configure_handler_environment(self) -> None:
        """The handler builds its clients from the environment, as on Lambda."""
        os.environ["LUNGCT_ENV"] = self.ctx.env
        os.environ["AWS_REGION"] = self.ctx.region
        os.environ.setdefault("AWS_DEFAULT_REGION", self.ctx.region)
        if self.ctx.endpoint_url:
            os.environ["AWS_ENDPOINT_URL"] = self.ctx.endpoint_url
            os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
            os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

    def poll_once(self, wait_s: int = 1) -> int:
        """Receive one batch and hand it to the handler; returns how many messages it held."""
        sqs = self.ctx.client("sqs")
        resp = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = resp.get("Messages", [])
        if not messages:
            return 0
        t0 = time.perf_counter()
        event = sqs_event(messages, self.queue_arn, self.ctx.region)
        try:
            response = self._handler(event, _Context("lungct-local-infer", 900))
            failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
        except Exception:
            log.exception("handler raised; the whole batch will be retried")
            failed = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        self.stats.batches += 1
        self.stats.received += len(messages)
        self.stats.deleted += len(done)
        self.stats.failed += len(failed)
        self.stats.seconds += time.perf_counter() - t0
        return len(messages)

    def queue_depth(self) -> int:
        attrs = self.ctx.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])

    def run(self, *, until_empty: bool = False, idle_s: float = 2.0, max_seconds: float | None = None,
            on_batch: Callable[[WorkerStats], None] | None = None) -> WorkerStats:
        """Poll until interrupted or, with ``until_empty``, until nothing is queued or in flight for ``idle_s``."""
        started = time.monotonic()
        idle_since: float | None = None
        while True:
            got = self.poll_once(wait_s=1 if until_empty else 5)
            if got:
                idle_since = None
                if on_batch:
                    on_batch(self.stats)
            elif until_empty:
                if self.queue_depth() > 0:
                    idle_since = None  # messages in flight will become visible again
                else:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= idle_s:
                        return self.stats
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                return self.stats
