"""Delivery semantics through the real handler and the local worker, against the embedded AWS.

S3 and SQS deliver at least once; these tests pin what lungct makes of that: one result per object
version, the newest upload wins, only failing records are retried, transient faults heal, what
keeps failing is dead-lettered (and can be replayed), and what cannot succeed is acknowledged once
with a log line instead of a retry storm.
"""
from __future__ import annotations

import json

from lungct.cli import main
from lungct.keys import incoming_key
from tests.helpers import png_bytes, synthetic_slice
from tests.reliability.conftest import record_handler, s3_event_body


def _put(s3, bucket, study_id, image, seed):
    data = png_bytes(synthetic_slice(seed, 64))
    resp = s3.put_object(Bucket=bucket, Key=incoming_key(study_id, image), Body=data)
    return resp, len(data)


def _drain(worker, seconds=60):
    return worker.run(until_empty=True, idle_s=0.3, max_seconds=seconds)


def test_same_event_in_two_batches_leaves_one_result_written_once(embedded_aws, worker, s3, sqs, bucket, store, study_id):
    # GIVEN an image processed once
    resp, size = _put(s3, bucket, study_id, "a.png", 1)
    _drain(worker)
    first = store.get(study_id, "a.png")
    # WHEN the same S3 event arrives again, twice, in one later batch and then another
    body = s3_event_body(bucket, incoming_key(study_id, "a.png"), resp["ETag"], size)
    responses = record_handler(worker)
    sqs.send_message_batch(QueueUrl=worker.queue_url, Entries=[{"Id": "1", "MessageBody": body}, {"Id": "2", "MessageBody": body}])
    _drain(worker)
    sqs.send_message(QueueUrl=worker.queue_url, MessageBody=body)
    _drain(worker)
    # THEN one result, never rewritten, and no retries
    (result,) = store.query_study(study_id)
    assert result.processed_at == first.processed_at and result.source_etag == resp["ETag"].strip('"')
    assert all(r["batchItemFailures"] == [] for r in responses) and worker.stats.failed == 0


def test_newer_upload_replaces_the_result_and_a_late_older_event_does_not(embedded_aws, worker, s3, sqs, bucket, store, study_id, json_logs):
    key = incoming_key(study_id, "slice.png")
    v1, size1 = _put(s3, bucket, study_id, "slice.png", 2)
    _drain(worker)
    assert store.get(study_id, "slice.png").source_version_id == v1["VersionId"]
    # WHEN a new version is uploaded
    v2, _ = _put(s3, bucket, study_id, "slice.png", 3)
    _drain(worker)
    newer = store.get(study_id, "slice.png")
    current = s3.get_object(Bucket=bucket, Key=key)
    assert newer.source_version_id == v2["VersionId"] == current["VersionId"]
    assert newer.source_etag == v2["ETag"].strip('"') != v1["ETag"].strip('"')
    # WHEN v1's event arrives late, in moto's shape (etag only) and in real S3's (with versionId)
    for body in (s3_event_body(bucket, key, v1["ETag"], size1),
                 s3_event_body(bucket, key, v1["ETag"], size1, version_id=v1["VersionId"])):
        sqs.send_message(QueueUrl=worker.queue_url, MessageBody=body)
    _drain(worker)
    # THEN the newer result stays, untouched, and the skip is logged
    kept = store.get(study_id, "slice.png")
    assert kept.source_version_id == v2["VersionId"] and kept.processed_at == newer.processed_at
    assert len(json_logs.find("event for an older upload")) == 2
    assert worker.stats.failed == 0


def test_one_failing_record_is_the_only_one_retried(embedded_aws, worker, s3, bucket, store, study_id, faults):
    # GIVEN GetObject of one image fails for its first five attempts: one botocore call (4 retries) spent
    injector = faults(f"s3:GetObject:1:5@{study_id}/poison.png,dynamodb:PutItem:0")
    for i, name in enumerate(["a.png", "b.png", "c.png", "poison.png"]):
        _put(s3, bucket, study_id, name, 10 + i)
    responses = record_handler(worker)
    _drain(worker)
    # THEN only the poison record was reported, it succeeded on redelivery, and the others were written once
    failures = [f for r in responses for f in r["batchItemFailures"]]
    assert len(failures) == 1 and worker.stats.failed == 1
    results = store.query_study(study_id)
    assert sorted(r.image for r in results) == ["a.png", "b.png", "c.png", "poison.png"]
    assert {r.status for r in results} == {"CLASSIFIED"}
    assert injector.stats.calls["dynamodb:PutItem"] == 4  # one write per image
    assert injector.stats.injected["s3:GetObject"] == 5 and injector.stats.retries >= 4


def test_transient_s3_and_dynamodb_faults_are_retried_and_succeed(embedded_aws, worker, s3, sqs, bucket, store, study_id, faults):
    injector = faults("s3:GetObject:0.35,dynamodb:PutItem:0.35,dynamodb:BatchGetItem:0.35", seed=11)
    names = [f"img{i}.png" for i in range(6)]
    for i, name in enumerate(names):
        _put(s3, bucket, study_id, name, 20 + i)
    _drain(worker, seconds=120)
    injector.detach()
    results = store.query_study(study_id)
    assert sorted(r.image for r in results) == names and {r.status for r in results} == {"CLASSIFIED"}
    assert sum(injector.stats.injected.values()) > 0 and injector.stats.retries > 0
    dlq = embedded_aws.urls["dlq_url"]
    attrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"


def test_a_record_that_keeps_failing_is_dead_lettered_listed_and_redriven(embedded_aws, worker, s3, sqs, bucket, store, study_id, faults, capsys):
    sqs.purge_queue(QueueUrl=embedded_aws.urls["dlq_url"])
    injector = faults(f"s3:GetObject:1@{study_id}/stuck.png")
    _put(s3, bucket, study_id, "stuck.png", 30)
    _put(s3, bucket, study_id, "fine.png", 31)
    stats = _drain(worker, seconds=120)
    # THEN after MAX_RECEIVE_COUNT (3) failed receives the message is in the DLQ, the other one is done
    assert stats.failed == 3
    assert [r.image for r in store.query_study(study_id)] == ["fine.png"]
    capsys.readouterr()
    assert main(["dlq", "list", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["study_id"] == study_id and row["image"] == "stuck.png" and row["receive_count"] >= 3
    assert row["first_received"].endswith("Z") and set(row) == {
        "message_id", "study_id", "image", "receive_count", "first_received", "sent"}
    assert main(["dlq", "list"]) == 0
    table = capsys.readouterr().out
    assert "stuck.png" in table and "Records" not in table and "eTag" not in table  # identifiers only
    # WHEN the cause is fixed and the DLQ is redriven
    injector.detach()
    assert main(["dlq", "redrive"]) == 0
    assert "moved 1 message" in capsys.readouterr().out
    _drain(worker)
    assert sorted(r.image for r in store.query_study(study_id)) == ["fine.png", "stuck.png"]
    assert main(["dlq", "list"]) == 0 and "dead-letter queue is empty" in capsys.readouterr().out


def test_gone_object_malformed_body_and_test_event_are_acknowledged_once_with_a_log_line(
        embedded_aws, worker, s3, sqs, bucket, store, study_id, json_logs):
    resp, size = _put(s3, bucket, study_id, "deleted.png", 40)
    s3.delete_object(Bucket=bucket, Key=incoming_key(study_id, "deleted.png"))  # before any worker ran
    for body in ("this is not json", json.dumps({"unexpected": True}), json.dumps(["a", "list"]),
                 json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})):
        sqs.send_message(QueueUrl=worker.queue_url, MessageBody=body)
    responses = record_handler(worker)
    stats = _drain(worker)
    assert stats.received == 5 and stats.deleted == 5 and stats.failed == 0  # each once, no retries
    assert all(r["batchItemFailures"] == [] for r in responses)
    assert store.query_study(study_id) == []
    (gone,) = json_logs.find("object gone before processing")
    assert gone["study_id"] == study_id and gone["image"] == "deleted.png" and gone["level"] == "WARNING"
    malformed = json_logs.find("malformed message acknowledged without retry")
    assert len(malformed) == 3 and all("detail" in m for m in malformed)
    assert len(json_logs.find("s3:TestEvent acknowledged")) == 1


def test_the_same_object_twice_in_one_invocation_is_worked_once(embedded_aws, worker, s3, sqs, bucket, store, study_id,
                                                                faults, json_logs):
    import lambda_infer.handler as handler_module
    from lungct.local.worker import sqs_event

    counter = faults(f"dynamodb:PutItem:0,s3:GetObject:0@{study_id}")  # rate 0: count only
    _put(s3, bucket, study_id, "twice.png", 45)
    (message,) = sqs.receive_message(QueueUrl=worker.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1,
                                     VisibilityTimeout=60)["Messages"]
    copy = {**message, "MessageId": "copy-" + message["MessageId"]}
    response = handler_module.handler(sqs_event([message, copy], worker.queue_arn, "us-east-1"), None)
    sqs.delete_message(QueueUrl=worker.queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert response == {"batchItemFailures": []}
    assert counter.stats.calls == {"s3:GetObject": 1, "dynamodb:PutItem": 1}  # one download, one write
    (done,) = [e for e in json_logs.entries if e["message"] == "batch done"]
    assert done["outcomes"] == {"written": 1, "duplicate": 1}
    assert len(store.query_study(study_id)) == 1
