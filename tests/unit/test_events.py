import json

import pytest

from lungct.events import MalformedMessage, parse_sqs_record


def s3_record(key: str, event: str = "ObjectCreated:Put") -> dict:
    return {"eventName": event, "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": 3, "eTag": "e1"}}}


def test_s3_event_becomes_object_refs():
    msg = parse_sqs_record({"messageId": "m1", "body": json.dumps({"Records": [s3_record("incoming/S1/a+%281%29.png")]})})
    assert [o.image for o in msg.objects] == ["a (1).png"] and msg.objects[0].etag == "e1"


def test_test_event_carries_no_work():
    body = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}
    msg = parse_sqs_record({"messageId": "m1", "body": json.dumps(body)})
    assert msg.test_event and msg.objects == []


def test_invalid_key_is_skipped_with_a_reason():
    msg = parse_sqs_record({"messageId": "m1", "body": json.dumps({"Records": [s3_record("incoming/../x.png")]})})
    assert msg.objects == [] and "'..'" in msg.skipped[0]


@pytest.mark.parametrize("body", ["not json", "[1, 2]", json.dumps({"hello": 1}), json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {}}]})])
def test_malformed_bodies_raise(body):
    with pytest.raises(MalformedMessage):
        parse_sqs_record({"messageId": "m1", "body": body})


EVENTS = __import__("pathlib").Path(__file__).resolve().parents[2] / "events"


def test_sample_lambda_event_parses():
    event = json.loads((EVENTS / "s3-put-in-sqs.json").read_text())
    msg = parse_sqs_record(event["Records"][0])
    (obj,) = msg.objects
    assert (obj.study_id, obj.image, obj.version_id) == ("demo-study-1", "000108 (3).png", "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd")


def test_sample_test_event_parses():
    event = json.loads((EVENTS / "s3-test-event-in-sqs.json").read_text())
    assert parse_sqs_record(event["Records"][0]).test_event
