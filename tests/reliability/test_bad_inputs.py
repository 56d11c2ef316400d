"""Bad inputs: every file of the corpus, in ONE batch through the real handler, ends as a result.

Valid if unusual images are classified; the rest are REJECTED with a stable code and a reason a
person understands. No file crashes the batch or is retried.
"""
from __future__ import annotations

import lambda_infer.handler as handler_module
from lungct.keys import incoming_key
from lungct.local.worker import sqs_event
from tests.data.make_bad_corpus import build_corpus


def _receive_all(sqs, queue_url: str, count: int) -> list[dict]:
    messages: dict[str, dict] = {}
    for _ in range(50):
        resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   VisibilityTimeout=60, AttributeNames=["All"])
        for m in resp.get("Messages", []):
            messages[m["MessageId"]] = m
        if len(messages) >= count:
            break
    return list(messages.values())


def test_every_bad_input_ends_as_a_result_in_one_batch(embedded_aws, worker, s3, sqs, bucket, store, study_id):
    corpus = build_corpus()
    for case in corpus:
        s3.put_object(Bucket=bucket, Key=incoming_key(study_id, case.name), Body=case.data)
    messages = _receive_all(sqs, worker.queue_url, len(corpus))
    assert len(messages) == len(corpus)
    # WHEN one Lambda invocation gets them all
    response = handler_module.handler(sqs_event(messages, worker.queue_arn, "us-east-1"), None)
    # THEN nothing is retried and each file has its result
    assert response == {"batchItemFailures": []}
    for m in messages:
        sqs.delete_message(QueueUrl=worker.queue_url, ReceiptHandle=m["ReceiptHandle"])
    results = {r.image: r for r in store.query_study(study_id)}
    assert sorted(results) == sorted(c.name for c in corpus)
    for case in corpus:
        result = results[case.name]
        assert (result.status, result.reason_code) == (case.status, case.reason_code), case.name
        if case.status == "REJECTED":
            assert result.reason and len(result.reason) > 20 and result.label is None, case.name
        else:
            assert result.label in result.probabilities and result.reason is None, case.name


def test_undecodable_transfer_syntax_is_named_in_the_reason():
    from lungct.errors import ImageRejected
    from lungct.imaging import decode
    from tests.data.make_bad_corpus import decodable

    (case,) = [c for c in build_corpus() if c.name == "jpegls-ct.dcm"]
    if decodable("MR_small_jpeg_ls_lossless.dcm"):
        assert decode(case.data).format == "DICOM"
        return
    try:
        decode(case.data)
    except ImageRejected as exc:
        assert exc.code == "unsupported_encoding" and "JPEG-LS Lossless Image Compression" in exc.message
    else:
        raise AssertionError("an undecodable transfer syntax was accepted")


def test_exif_orientation_is_applied():
    from lungct.imaging import decode

    (case,) = [c for c in build_corpus() if c.name == "exif-rotated.jpg"]
    image = decode(case.data)
    assert (image.width, image.height) == (96, 64)  # stored 64 wide x 96 high, displayed rotated


def test_a_decoder_bug_costs_one_file_not_the_batch(embedded_aws, worker, s3, bucket, store, study_id, monkeypatch, json_logs):
    import lungct.inference as inference
    from tests.helpers import png_bytes, synthetic_slice

    real = inference.decode

    def flaky(data, **kwargs):
        if data.startswith(b"\x89PNG") and b"CRASHME" in data:
            raise RuntimeError("a bug in a decoder")
        return real(data, **kwargs)

    monkeypatch.setattr(inference, "decode", flaky)
    good = png_bytes(synthetic_slice(50, 64))
    s3.put_object(Bucket=bucket, Key=incoming_key(study_id, "good.png"), Body=good)
    s3.put_object(Bucket=bucket, Key=incoming_key(study_id, "crash.png"), Body=good + b"CRASHME")
    stats = worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    results = {r.image: r for r in store.query_study(study_id)}
    assert results["good.png"].status == "CLASSIFIED" and stats.failed == 0
    assert (results["crash.png"].status, results["crash.png"].reason_code) == ("REJECTED", "decode_error")
    assert json_logs.find("decoder failed; stored as rejected")
