"""The store keeps the newest object version's result, whatever order deliveries arrive in."""
import boto3
import pytest
from moto import mock_aws

from lungct.results import ResultItem, ResultStore, sequencer_key

SECOND = "2026-12-04T10:00:00+00:00"


@pytest.fixture()
def store(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(
            TableName="results",
            KeySchema=[{"AttributeName": "study_id", "KeyType": "HASH"}, {"AttributeName": "image", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "study_id", "AttributeType": "S"},
                                  {"AttributeName": "image", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield ResultStore(ddb, "results")


def result(etag: str, modified: str, sequencer: str = "") -> ResultItem:
    return ResultItem(study_id="S1", image="a.png", status="CLASSIFIED", source_bucket="b",
                      source_key="incoming/S1/a.png", source_etag=etag, source_modified=modified,
                      source_sequencer=sequencer_key(sequencer))


def test_an_older_upload_in_the_same_second_does_not_replace_the_newer(store):
    assert store.put(result("v2", SECOND, "0055AED6DCD90281E6"))
    assert not store.put(result("v1", SECOND, "0055AED6DCD90281E5"))
    assert store.get("S1", "a.png").source_etag == "v2"


def test_sequencers_of_different_lengths_compare_after_right_padding(store):
    assert store.put(result("v1", SECOND, "0055AED6DCD90281E5"))
    assert store.put(result("v2", SECOND, "0055AED6DCD90281E50A"))  # longer and later
    assert not store.put(result("v1", SECOND, "0055AED6DCD90281E5"))
    assert store.get("S1", "a.png").source_etag == "v2"


def test_a_later_second_wins_and_an_earlier_one_loses_without_sequencers(store):
    assert store.put(result("v1", "2026-12-04T10:00:00+00:00"))
    assert store.put(result("v2", "2026-12-04T10:00:01+00:00"))
    assert not store.put(result("v1", "2026-12-04T10:00:00+00:00"))
    assert store.get("S1", "a.png").source_etag == "v2"


def test_the_same_version_again_rewrites_its_own_result(store):
    assert store.put(result("v1", SECOND, "0055AED6DCD90281E5"))
    assert store.put(result("v1", SECOND, "0055AED6DCD90281E5"))
    assert store.put(result("v1", SECOND))  # reclassification: no sequencer, same version
