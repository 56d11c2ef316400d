"""The study summary: a pure function of the stored results, consistent under concurrent writes."""
from __future__ import annotations

import threading

from lungct.query import study_document
from lungct.results import ResultItem, ResultStore
from lungct.summary import summarize

LABELS = ("adenocarcinoma", "large_cell_carcinoma", "normal", "squamous_cell_carcinoma")


def result(image: str, probs: dict[str, float] | None = None, *, status: str = "CLASSIFIED", study: str = "s1",
           needs_review: bool = False, processed_at: str | None = None) -> ResultItem:
    full = {label: 0.0 for label in LABELS}
    full.update(probs or {})
    item = ResultItem(study, image, status, "bucket", f"incoming/{study}/{image}", source_modified="2025-01-01T00:00:00Z",
                      needs_review=needs_review, thresholds={"review_confidence": 0.6, "finding_probability": 0.5})
    if status == "CLASSIFIED":
        item.probabilities = full
        item.label = max(full, key=full.get)
        item.confidence = full[item.label]
    if processed_at:
        item.processed_at = processed_at
    return item


def test_one_confident_tumour_slice_makes_the_study_abnormal():
    results = [result(f"n{i}.png", {"normal": 0.9, "adenocarcinoma": 0.1}) for i in range(5)]
    results.append(result("t.png", {"squamous_cell_carcinoma": 0.8, "normal": 0.2}))
    summary = summarize(results)
    assert summary["suggested_class"] == "squamous_cell_carcinoma" and summary["rule"] == "any_finding"
    assert summary["needs_review"] and "images_disagree" in summary["review_reasons"]
    assert summary["classes"]["normal"] == {"max_probability": 0.9, "mean_probability": 0.7833, "slices": 5}
    assert summary["classes"]["squamous_cell_carcinoma"]["max_probability"] == 0.8


def test_the_strongest_finding_wins_among_carcinomas():
    summary = summarize([
        result("a.png", {"adenocarcinoma": 0.55, "normal": 0.45}),
        result("b.png", {"large_cell_carcinoma": 0.7, "normal": 0.3}),
    ])
    assert summary["suggested_class"] == "large_cell_carcinoma"


def test_without_a_confident_finding_the_majority_decides():
    summary = summarize([
        result("a.png", {"normal": 0.9, "adenocarcinoma": 0.1}),
        result("b.png", {"normal": 0.8, "adenocarcinoma": 0.2}),
        result("c.png", {"adenocarcinoma": 0.45, "normal": 0.3, "squamous_cell_carcinoma": 0.25}),
    ])
    assert summary["suggested_class"] == "normal" and summary["rule"] == "majority"


def test_agreeing_confident_slices_need_no_review():
    summary = summarize([result(f"{i}.png", {"adenocarcinoma": 0.9, "normal": 0.1}) for i in range(3)])
    assert summary["suggested_class"] == "adenocarcinoma" and not summary["needs_review"]
    assert summary["review_reasons"] == []


def test_low_confidence_and_flagged_images_need_review():
    summary = summarize([
        result("a.png", {"adenocarcinoma": 0.4, "normal": 0.35, "squamous_cell_carcinoma": 0.25}, needs_review=True),
        result("b.png", {"adenocarcinoma": 0.45, "normal": 0.3, "squamous_cell_carcinoma": 0.25}),
    ])
    assert summary["rule"] == "majority" and summary["suggested_class"] == "adenocarcinoma"
    assert summary["review_reasons"] == ["low_confidence", "images_flagged"]


def test_rejected_images_are_counted_and_a_study_without_classified_images_has_no_suggestion():
    summary = summarize([result("bad.png", status="REJECTED"), result("bad2.png", status="REJECTED")])
    assert summary["classified"] == 0 and summary["rejected"] == 2 and summary["classes"] == {}
    assert summary["suggested_class"] is None and summary["rule"] == "none"
    assert summary["review_reasons"] == ["no_classified_images"]


def test_summary_is_consistent_with_its_images_under_concurrent_writes(embedded_aws, study_id):
    """GIVEN writers adding results from threads WHEN readers query meanwhile THEN every document's
    summary describes exactly the images it lists, and the last one all of them."""
    ctx = embedded_aws.context()
    store = ResultStore(ctx.client("dynamodb"), ctx.names.results_table)
    done = threading.Event()
    documents: list[dict] = []
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            own = ResultStore(embedded_aws.context().client("dynamodb"), ctx.names.results_table)
            for k in range(8):
                probs = {"adenocarcinoma": 0.9, "normal": 0.1} if (worker + k) % 3 else {"normal": 0.8, "adenocarcinoma": 0.2}
                status = "REJECTED" if k == 7 else "CLASSIFIED"
                own.put(result(f"w{worker}/{k}.png", probs, status=status, study=study_id))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def read() -> None:
        reader = ResultStore(embedded_aws.context().client("dynamodb"), ctx.names.results_table)
        while not done.is_set():
            documents.append(study_document(reader, study_id))

    writers = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    reader = threading.Thread(target=read)
    reader.start()
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    reader.join()
    documents.append(study_document(store, study_id))
    assert not errors
    for doc in documents:
        s = doc["summary"]
        statuses = [i["status"] for i in doc["images"]]
        assert s["images"] == len(doc["images"])
        assert s["classified"] == statuses.count("CLASSIFIED") and s["rejected"] == statuses.count("REJECTED")
        assert s == summarize(ResultItem.from_json(i) for i in doc["images"])
    final = documents[-1]["summary"]
    assert final["images"] == 32 and final["classified"] == 28 and final["rejected"] == 4
    assert final["suggested_class"] == "adenocarcinoma" and final["rule"] == "any_finding"
