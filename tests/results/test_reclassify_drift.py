"""Reclassify with a new champion; EMF metrics per batch; drift (PSI) against the training reference."""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest

from lungct import DISCLAIMER
from lungct.cli import main
from lungct.drift import PSI_SIGNIFICANT, PSI_STABLE, parse_since, psi, psi_status, scan_results
from lungct.metrics import NAMESPACE, batch_document, metric_names
from lungct.model.artifact import file_sha256, load_card, write_card
from lungct.model.publish import publish, set_pointer
from lungct.reclassify import s3_notification
from lungct.events import parse_sqs_record
from lungct.results import ResultStore
from tests.helpers import png_bytes, synthetic_slice
from tests.results.test_summary import result


def store_of(embedded_aws) -> ResultStore:
    ctx = embedded_aws.context()
    return ResultStore(ctx.client("dynamodb"), ctx.names.results_table)


@pytest.fixture()
def second_model(embedded_aws, tiny_artifact, published, tmp_path):
    """Version 2 of the tiny model (a different file, so a different sha256), as champion; restored after."""
    target = tmp_path / "model-v2"
    shutil.copytree(tiny_artifact, target)
    with open(target / "model.tflite", "ab") as fh:
        fh.write(b"\0lungct-test-v2")  # trailing bytes: same network, new sha256
    card = load_card(target, verify=False)
    card.version, card.sha256 = "2", file_sha256(target / "model.tflite")
    write_card(target, card)
    ctx = embedded_aws.context()
    yield publish(ctx.client("s3"), ctx.client("ssm"), target,
                  bucket=ctx.names.artifacts_bucket, parameter=ctx.names.model_parameter)
    set_pointer(ctx.client("ssm"), ctx.names.model_parameter, published)


def test_reclassify_message_is_what_the_handler_parses():
    when = datetime(2025, 3, 1, tzinfo=timezone.utc)
    body = s3_notification("b", {"Key": "incoming/s1/series 1/a+b.png", "LastModified": when, "Size": 3,
                                 "ETag": '"abc"', "VersionId": "v7"}, "us-east-1")
    (ref,) = parse_sqs_record({"messageId": "m", "body": json.dumps(body)}).objects
    assert (ref.study_id, ref.image, ref.etag, ref.version_id) == ("s1", "series 1/a+b.png", "abc", "v7")


def test_reclassify_with_a_new_champion_records_both_models(embedded_aws, worker, study_id, capsys, request):
    ctx = embedded_aws.context()
    for i in range(3):
        ctx.client("s3").put_object(Bucket=ctx.names.images_bucket, Key=f"incoming/{study_id}/s{i}.png",
                                    Body=png_bytes(synthetic_slice(40 + i, 64, i)))
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    first = {r.image: r for r in store_of(embedded_aws).query_study(study_id)}
    assert {r.model_version for r in first.values()} == {"1"}

    # the same model: every object is a duplicate, nothing is rewritten
    assert main(["reclassify", study_id]) == 0
    assert "queued 3 image(s)" in capsys.readouterr().out
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    again = {r.image: r for r in store_of(embedded_aws).query_study(study_id)}
    assert {k: r.processed_at for k, r in again.items()} == {k: r.processed_at for k, r in first.items()}

    # a new champion reprocesses and keeps the previous model version
    request.getfixturevalue("second_model")
    import lambda_infer.handler as handler_module

    handler_module._service = None  # a fresh container reads the new pointer
    assert main(["reclassify", study_id, "--since", "1d"]) == 0
    out = capsys.readouterr().out
    assert "queued 3 image(s)" in out and DISCLAIMER in out
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    latest = store_of(embedded_aws).query_study(study_id)
    assert {(r.model_version, r.previous_model_version) for r in latest} == {("2", "1")}
    assert all(r.model_sha256 != first[r.image].model_sha256 for r in latest)


def test_reclassify_since_the_future_finds_nothing(embedded_aws, study_id, capsys):
    ctx = embedded_aws.context()
    ctx.client("s3").put_object(Bucket=ctx.names.images_bucket, Key=f"incoming/{study_id}/a.png", Body=b"x")
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    assert main(["reclassify", study_id, "--since", tomorrow]) == 1
    assert "queued 0 image(s)" in capsys.readouterr().out


def test_handler_prints_one_emf_document_per_batch(embedded_aws, worker, study_id, capsys):
    ctx = embedded_aws.context()
    ctx.client("s3").put_object(Bucket=ctx.names.images_bucket, Key=f"incoming/{study_id}/a.png",
                                Body=png_bytes(synthetic_slice(7, 64)))
    ctx.client("s3").put_object(Bucket=ctx.names.images_bucket, Key=f"incoming/{study_id}/b.png", Body=b"not an image")
    capsys.readouterr()
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert docs and sum(d["ImagesWritten"] for d in docs) == 2
    assert sum(d["Classified"] for d in docs) == 1 and sum(d["Rejected"] for d in docs) == 1
    for doc in docs:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE and directive["Dimensions"] == [["env"]] and doc["env"] == "local"
        assert {m["Name"] for m in directive["Metrics"]} <= set(doc) and doc["model_version"] == "1"


def test_emf_document_counts_classes_confidence_and_flags():
    results = [result("a.png", {"normal": 0.9, "adenocarcinoma": 0.1}),
               result("b.png", {"adenocarcinoma": 0.5, "normal": 0.5}, needs_review=True),
               result("c.png", status="REJECTED")]
    results[1].review_reasons = ["not_ct_like:colour"]
    results[0].timings_ms = {"download": 1.5, "decode": 2.0, "predict": 3.0}
    results[2].timings_ms = {"download": 1.0, "decode": 0.5}
    labels = ["adenocarcinoma", "large_cell_carcinoma", "normal", "squamous_cell_carcinoma"]
    doc = batch_document("dev", results, labels, timestamp_ms=1)
    assert (doc["Classified"], doc["Rejected"], doc["ReviewFlagged"], doc["NotCtLike"]) == (2, 1, 1, 1)
    assert doc["MeanConfidence"] == 0.7 and doc["Predicted_normal"] == 1 and doc["Predicted_adenocarcinoma"] == 1
    assert doc["ImageLatency"] == [6.5, 1.5]  # one value per image that has timings
    metrics = {m["Name"]: m["Unit"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert list(metrics) == metric_names(labels) and metrics["ImageLatency"] == "Milliseconds"


def test_psi_reads_as_documented():
    assert psi([0.25] * 4, [0.25] * 4) == 0.0
    assert psi([0.5, 0.5], [0.6, 0.4]) == pytest.approx(0.0405, abs=1e-4)
    assert psi([0.7, 0.2, 0.1], [0.1, 0.2, 0.7]) > PSI_SIGNIFICANT
    assert psi([1.0, 0.0], [0.0, 1.0]) < 20  # empty bins are floored, never infinite
    assert (psi_status(0.05), psi_status(PSI_STABLE), psi_status(0.3)) == ("stable", "moderate", "significant")


def test_since_parses_durations_and_dates():
    now = datetime(2025, 5, 10, 12, tzinfo=timezone.utc)
    assert parse_since("7d", now=now) == datetime(2025, 5, 3, 12, tzinfo=timezone.utc)
    assert parse_since("24h", now=now) == datetime(2025, 5, 9, 12, tzinfo=timezone.utc)
    assert parse_since("2025-05-01") == datetime(2025, 5, 1, tzinfo=timezone.utc)
    with pytest.raises(Exception, match="neither a duration"):
        parse_since("last week")


def test_card_carries_the_training_reference_and_thresholds(tiny_artifact):
    card = load_card(tiny_artifact)
    assert sorted(card.reference["class_priors"]) == sorted(card.labels)
    assert sum(card.reference["class_priors"].values()) == pytest.approx(1.0, abs=1e-3)
    assert len(card.reference["intensity_histogram"]) == 16
    assert {"review_confidence", "finding_probability", "ood_colourfulness"} <= set(card.thresholds)
    assert (tiny_artifact / "head.npz").is_file()


def test_drift_scan_filters_by_time_and_paginates(embedded_aws, study_id):
    store = store_of(embedded_aws)
    for i in range(5):
        store.put(result(f"old{i}.png", {"normal": 1.0}, study=study_id, processed_at="2001-01-01T00:00:00.000Z"))
        store.put(result(f"new{i}.png", {"normal": 1.0}, study=study_id, processed_at="2099-01-01T00:00:00.000Z"))
    found = [r for r in scan_results(store, parse_since("2098-12-31"), page_size=3) if r.study_id == study_id]
    assert sorted(r.image for r in found) == [f"new{i}.png" for i in range(5)]


def test_drift_command_reports_psi_against_the_serving_model(embedded_aws, worker, study_id, capsys):
    ctx = embedded_aws.context()
    for i in range(4):
        ctx.client("s3").put_object(Bucket=ctx.names.images_bucket, Key=f"incoming/{study_id}/d{i}.png",
                                    Body=png_bytes(synthetic_slice(60 + i, 64, i)))
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    capsys.readouterr()
    assert main(["drift", "--since", "1h", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["classified"] >= 4 and report["model"]["version"] == "1"
    for part in ("predicted_classes", "input_intensity"):
        assert report[part]["status"] in ("stable", "moderate", "significant") and report[part]["psi"] >= 0
    assert report["disclaimer"] == DISCLAIMER and "noisy" in report["note"]
    assert main(["drift", "--since", "1h"]) == 0
    table = capsys.readouterr().out
    assert "input intensities" in table and "PSI < 0.1 stable" in table and DISCLAIMER in table
