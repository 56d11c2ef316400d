"""``lungct dlq list | redrive``: what ended in the dead-letter queue, and replaying it.

A message lands in the dead-letter queue after ``MAX_RECEIVE_COUNT`` receives that all failed
transiently (throttling, 5xx, the model pointer unreadable). ``list`` names each by study and
image (never more of the body), with its receive count and when it was first received;
``redrive`` moves the messages back to the main queue once the cause is fixed. Processing is
idempotent, so a message moved twice leaves one result.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from lungct.cli.common import add_env, context
from lungct.events import MalformedMessage, parse_sqs_record

PEEK_VISIBILITY_S = 30


@dataclass
class DeadLetter:
    message_id: str
    study_id: str
    image: str
    receive_count: int
    first_received: str
    sent: str

    def row(self) -> str:
        return f"{self.study_id:<28} {self.image:<40} {self.receive_count:>8}  {self.first_received}"


def register(sub: argparse._SubParsersAction) -> None:
    dlq = sub.add_parser("dlq", help="show and replay messages in the dead-letter queue")
    dsub = dlq.add_subparsers(dest="dlq_command", required=True, metavar="COMMAND")
    show = dsub.add_parser("list", help="list dead-lettered images: study, image, receive count, first failure")
    add_env(show)
    show.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show.add_argument("--max", type=int, default=1000, help="stop after this many messages (default 1000)")
    show.set_defaults(func=cmd_list)
    redrive = dsub.add_parser("redrive", help="move dead-lettered messages back to the main queue")
    add_env(redrive)
    redrive.add_argument("--max", type=int, default=None, help="move at most this many messages")
    redrive.set_defaults(func=cmd_redrive)


def _ms_to_iso(value: Any) -> str:
    try:
        return datetime.fromtimestamp(int(value) / 1000.0, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (TypeError, ValueError):
        return "?"


def describe(message: dict[str, Any]) -> list[DeadLetter]:
    """Key identifiers of one SQS message (one per S3 record); the body itself is never shown."""
    attrs = message.get("Attributes", {})
    common = {
        "message_id": message.get("MessageId", ""),
        "receive_count": int(attrs.get("ApproximateReceiveCount", 0) or 0),
        "first_received": _ms_to_iso(attrs.get("ApproximateFirstReceiveTimestamp")),
        "sent": _ms_to_iso(attrs.get("SentTimestamp")),
    }
    try:
        parsed = parse_sqs_record({"messageId": common["message_id"], "body": message.get("Body", "")})
    except MalformedMessage:
        return [DeadLetter(study_id="(malformed message)", image="-", **common)]
    if parsed.test_event:
        return [DeadLetter(study_id="(s3:TestEvent)", image="-", **common)]
    rows = [DeadLetter(study_id=o.study_id, image=o.image, **common) for o in parsed.objects]
    return rows or [DeadLetter(study_id="(no valid key)", image="-", **common)]


def _drain(sqs: Any, queue_url: str, limit: int | None) -> list[dict[str, Any]]:
    """Receive up to ``limit`` messages, holding each invisible while we work on it."""
    messages: list[dict[str, Any]] = []
    seen: set[str] = set()
    while limit is None or len(messages) < limit:
        want = 10 if limit is None else max(1, min(10, limit - len(messages)))
        resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=want, WaitTimeSeconds=0,
                                   VisibilityTimeout=PEEK_VISIBILITY_S, AttributeNames=["All"])
        batch = [m for m in resp.get("Messages", []) if m["MessageId"] not in seen]
        if not batch:
            break
        for m in batch:
            seen.add(m["MessageId"])
        messages.extend(batch)
    return messages


def list_dead_letters(sqs: Any, dlq_url: str, *, limit: int = 1000) -> list[DeadLetter]:
    """Peek: receive, describe, and make each message visible again at once."""
    messages = _drain(sqs, dlq_url, limit)
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        sqs.change_message_visibility_batch(
            QueueUrl=dlq_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(chunk)],
        )
    return [row for m in messages for row in describe(m)]


def redrive(sqs: Any, dlq_url: str, queue_url: str, *, limit: int | None = None) -> int:
    """Send each message back to the main queue, then delete it from the DLQ (at least once)."""
    moved = 0
    for message in _drain(sqs, dlq_url, limit):
        sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"])
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
        moved += 1
    return moved


def _urls(args: argparse.Namespace) -> tuple[Any, str, str]:
    ctx = context(args)
    sqs = ctx.client("sqs")
    dlq_url = sqs.get_queue_url(QueueName=ctx.names.dead_letter_queue)["QueueUrl"]
    queue_url = sqs.get_queue_url(QueueName=ctx.names.queue)["QueueUrl"]
    return sqs, dlq_url, queue_url


def cmd_list(args: argparse.Namespace) -> int:
    sqs, dlq_url, _ = _urls(args)
    rows = list_dead_letters(sqs, dlq_url, limit=args.max)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return 0
    if not rows:
        print("dead-letter queue is empty")
        return 0
    print(f"{'STUDY':<28} {'IMAGE':<40} {'RECEIVES':>8}  FIRST RECEIVED (UTC)")
    for r in rows:
        print(r.row())
    print(f"{len(rows)} dead-lettered image(s); replay with `lungct dlq redrive` once the cause is fixed")
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    sqs, dlq_url, queue_url = _urls(args)
    moved = redrive(sqs, dlq_url, queue_url, limit=args.max)
    print(f"moved {moved} message(s) from the dead-letter queue back to the main queue")
    return 0
