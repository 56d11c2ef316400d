"""A mixed study through the embedded AWS: good slices, a colour photo, a corrupt file, DICOM CT and MR."""
from __future__ import annotations

import json

from PIL import Image

from lungct import DISCLAIMER
from lungct.cli import main
from lungct.dicom_studies import study_id_from_uid
from lungct.query import handle_study_request
from lungct.results import ResultStore
from tests.helpers import png_bytes, synthetic_slice
from tests.results.ood_images import colour_photo

PROVENANCE = ("model_name", "model_version", "model_sha256", "preprocessing_id", "runtime", "thresholds")


def results_json(study_id: str, capsys, *extra: str) -> dict:
    capsys.readouterr()
    assert main(["results", study_id, "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_mixed_study_shows_summary_flags_heatmaps_and_provenance(
        embedded_aws, heatmaps_on, worker, study_id, tmp_path, capsys, ct_dicom, mr_dicom):
    folder = tmp_path / "study"
    folder.mkdir()
    for i in range(3):
        (folder / f"slice-{i}.png").write_bytes(png_bytes(synthetic_slice(100 + i, 64, i), "RGBA"))
    (folder / "holiday.jpg").write_bytes(png_bytes(colour_photo(seed=2)))
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (folder / "ct.dcm").write_bytes(ct_dicom.read_bytes())
    (folder / "mr.dcm").write_bytes(mr_dicom.read_bytes())
    assert main(["submit", str(folder), "--study", study_id]) == 0
    stats = worker.run(until_empty=True, idle_s=0.3, max_seconds=90)
    assert stats.failed == 0
    heatmap_dir = tmp_path / "heatmaps"
    doc = results_json(study_id, capsys, "--heatmaps", str(heatmap_dir))
    images = {i["image"]: i for i in doc["images"]}

    assert doc["disclaimer"] == DISCLAIMER
    summary = doc["summary"]
    assert (summary["images"], summary["classified"], summary["rejected"]) == (7, 5, 2)
    assert summary["suggested_class"] in summary["classes"] and summary["rule"] in ("any_finding", "majority")
    assert summary["needs_review"] and "images_flagged" in summary["review_reasons"]

    photo = images["holiday.jpg"]
    assert photo["status"] == "CLASSIFIED" and photo["needs_review"]
    assert "not_ct_like:colour" in photo["review_reasons"] and photo["image_stats"]["colourfulness"] > 10
    for name in ("slice-0.png", "slice-1.png", "slice-2.png", "ct.dcm"):
        assert not any(r.startswith("not_ct_like") for r in images[name]["review_reasons"]), images[name]
    assert images["corrupt.png"]["status"] == "REJECTED" and images["corrupt.png"]["reason"]
    mr = images["mr.dcm"]
    assert mr["status"] == "REJECTED" and mr["reason_code"] == "unsupported_modality" and "MR" in mr["reason"]

    ct = images["ct.dcm"]
    assert ct["status"] == "CLASSIFIED" and ct["input_format"] == "DICOM"
    assert set(ct["dicom"]) >= {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"} and ct["dicom"]["Modality"] == "CT"
    assert not {"PatientName", "PatientID", "PatientBirthDate"} & set(ct["dicom"])

    for image in doc["images"]:
        for field in PROVENANCE:
            assert image[field], (image["image"], field)
        assert len(image["model_sha256"]) == 64 and image["runtime"].startswith("litert")
        assert {"review_confidence", "finding_probability", "ood_colourfulness"} <= set(image["thresholds"])
        if image["status"] == "CLASSIFIED":
            assert image["heatmap_key"] == f"heatmaps/{study_id}/{image['image']}.png"
            assert len(image["intensity_histogram"]) == 16 and abs(sum(image["intensity_histogram"]) - 1) < 1e-3
            with Image.open(heatmap_dir / f"{image['image']}.png") as png:
                assert png.mode == "RGB" and max(png.size) <= 256
        else:
            assert image["heatmap_key"] is None

    capsys.readouterr()
    assert main(["results", study_id]) == 0
    table = capsys.readouterr().out
    assert "Summary: 5 classified, 2 rejected" in table and "Suggested for the study:" in table
    assert "not_ct_like:colour" in table and DISCLAIMER in table


def test_api_answers_the_same_document(embedded_aws, worker, study_id, capsys):
    ctx = embedded_aws.context()
    ctx.client("s3").put_object(Bucket=ctx.names.images_bucket, Key=f"incoming/{study_id}/a.png",
                                Body=png_bytes(synthetic_slice(5, 64)))
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    store = ResultStore(ctx.client("dynamodb"), ctx.names.results_table)
    response = handle_study_request({"pathParameters": {"study_id": study_id}}, store)
    body = json.loads(response["body"])
    assert response["statusCode"] == 200 and body["disclaimer"] == DISCLAIMER
    assert body["summary"] == results_json(study_id, capsys)["summary"]
    assert body["images"][0]["heatmap_key"] is None  # heatmaps are off by default
    missing = json.loads(handle_study_request({"pathParameters": {"study_id": "nothing-here"}}, store)["body"])
    assert missing["disclaimer"] == DISCLAIMER


def test_submit_without_study_groups_dicom_by_study_uid(embedded_aws, worker, tmp_path, capsys, ct_dicom, mr_dicom):
    import pydicom

    (tmp_path / "ct.dcm").write_bytes(ct_dicom.read_bytes())
    (tmp_path / "mr.dcm").write_bytes(mr_dicom.read_bytes())
    capsys.readouterr()
    assert main(["submit", str(tmp_path / "ct.dcm"), str(tmp_path / "mr.dcm")]) == 0
    out = capsys.readouterr().out
    ct_study = study_id_from_uid(str(pydicom.dcmread(ct_dicom).StudyInstanceUID))
    mr_study = study_id_from_uid(str(pydicom.dcmread(mr_dicom).StudyInstanceUID))
    assert ct_study != mr_study and f"to study {ct_study}" in out and DISCLAIMER in out
    worker.run(until_empty=True, idle_s=0.3, max_seconds=60)
    (ct,) = results_json(ct_study, capsys)["images"]
    (mr,) = results_json(mr_study, capsys)["images"]
    assert ct["status"] == "CLASSIFIED" and ct["dicom"]["StudyInstanceUID"] == ct_study
    assert mr["status"] == "REJECTED" and mr["reason_code"] == "unsupported_modality"


def test_submit_without_study_refuses_non_dicom(tmp_path, capsys):
    (tmp_path / "a.png").write_bytes(png_bytes(synthetic_slice(1, 64)))
    assert main(["submit", str(tmp_path / "a.png")]) == 2
    assert "only DICOM files can be grouped" in capsys.readouterr().err


def test_study_ids_from_uids_fit_the_rule():
    from hypothesis import given, strategies as st

    from lungct.keys import validate_study_id

    assert study_id_from_uid("1.2.840.113619.2.55.3") == "1.2.840.113619.2.55.3"

    @given(st.text(min_size=1, max_size=300).filter(lambda s: s.strip().rstrip("\0").strip()))
    def check(uid: str) -> None:
        assert validate_study_id(study_id_from_uid(uid))
        if study_id_from_uid(uid) != uid.strip().rstrip("\0").strip():
            assert study_id_from_uid(uid) != study_id_from_uid(uid + "x")

    check()
