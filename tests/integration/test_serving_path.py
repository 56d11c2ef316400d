"""The real handler, fed by the local worker from the embedded AWS (moto server): S3 -> SQS -> DynamoDB."""
import json
import subprocess
import sys

import numpy as np

from lungct.imaging import PreprocessParams, decode, preprocess_decoded
from lungct.keys import incoming_key
from lungct.query import study_document
from lungct.results import ResultStore
from tests.helpers import png_bytes, synthetic_slice


def store_of(embedded_aws) -> ResultStore:
    ctx = embedded_aws.context()
    return ResultStore(ctx.client("dynamodb"), ctx.names.results_table)


def upload(embedded_aws, study_id: str, image: str, data: bytes) -> None:
    ctx = embedded_aws.context()
    ctx.client("s3").put_object(Bucket=ctx.names.images_bucket, Key=incoming_key(study_id, image), Body=data)


def test_uploaded_images_get_one_result_each(embedded_aws, worker, study_id):
    names = ["000108 (3).png", "2 - Copy (2) - Copy.png", "series 1/slice+1.png"]
    for i, name in enumerate(names):
        upload(embedded_aws, study_id, name, png_bytes(synthetic_slice(i, 64), "RGBA"))
    stats = worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    results = store_of(embedded_aws).query_study(study_id)
    assert sorted(r.image for r in results) == sorted(names)
    assert {r.status for r in results} == {"CLASSIFIED"}
    assert stats.failed == 0
    for r in results:
        assert r.label in r.probabilities and abs(sum(r.probabilities.values()) - 1) < 1e-3
        assert r.model_version == "1" and len(r.model_sha256) == 64
        assert r.source_key == f"incoming/{study_id}/{r.image}" and r.source_etag


def test_corrupt_file_is_rejected_with_a_reason_and_not_retried(embedded_aws, worker, study_id):
    upload(embedded_aws, study_id, "report.png", b"a text file with an image name")
    stats = worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    (result,) = store_of(embedded_aws).query_study(study_id)
    assert result.status == "REJECTED" and result.reason_code == "not_an_image" and "PNG" in result.reason
    assert stats.failed == 0 and worker.queue_depth() == 0


def test_s3_test_event_is_acknowledged_without_a_result(embedded_aws, worker):
    sqs = embedded_aws.context().client("sqs")
    sqs.send_message(QueueUrl=worker.queue_url, MessageBody=json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"}))
    stats = worker.run(until_empty=True, idle_s=0.3, max_seconds=30)
    assert stats.received == 1 and stats.deleted == 1 and stats.failed == 0


def test_same_event_delivered_twice_leaves_one_result(embedded_aws, worker, study_id):
    upload(embedded_aws, study_id, "a.png", png_bytes(synthetic_slice(3, 64)))
    sqs = embedded_aws.context().client("sqs")
    (message,) = sqs.receive_message(QueueUrl=worker.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1)["Messages"]
    sqs.send_message(QueueUrl=worker.queue_url, MessageBody=message["Body"])  # a duplicate delivery
    sqs.change_message_visibility(QueueUrl=worker.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    results = store_of(embedded_aws).query_study(study_id)
    assert len(results) == 1 and results[0].status == "CLASSIFIED"


def test_results_document_has_the_contract_shape(embedded_aws, worker, study_id):
    upload(embedded_aws, study_id, "a.png", png_bytes(synthetic_slice(4, 64)))
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    doc = study_document(store_of(embedded_aws), study_id)
    assert doc["study_id"] == study_id and "not for diagnostic use" in doc["disclaimer"]
    (image,) = doc["images"]
    for field in ("image", "status", "label", "probabilities", "confidence", "reason", "model_version",
                  "model_name", "model_sha256", "source_key", "source_etag", "timings_ms", "processed_at"):
        assert field in image
    json.dumps(doc)


def test_training_and_serving_produce_the_same_tensor(tiny_dataset):
    from training_job.dataset import scan
    from training_job.train import load_tensors

    samples = scan(tiny_dataset)[:3]
    params = PreprocessParams(size=32)
    x_train, _, _ = load_tensors(samples, params)
    served = np.stack([preprocess_decoded(decode(s.path.read_bytes()), params) for s in samples])
    assert np.array_equal(x_train, served)


def test_importing_the_handler_does_not_import_tensorflow():
    code = (
        "import sys, lambda_infer.handler, lambda_infer.api, lungct.service, lungct.model.runtime;"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
