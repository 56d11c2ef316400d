"""Data preparation: manifest rows, roles, and the duplicates it must catch."""
from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import LONG_FOLDERS, png_bytes, synthetic_slice
from training_job import prepare as prep


def by_path(prepared: prep.Prepared) -> dict[str, prep.Row]:
    return {Path(r.path).name: r for r in prepared.rows}


def test_planted_duplicates_and_a_conflicting_label_are_caught(planted_dataset, tmp_path):
    root, planted = planted_dataset
    # WHEN
    prepared = prep.prepare([root])
    rows = {r.path: r for r in prepared.rows}
    report = prepared.report
    # THEN the copy of an evaluation image leaves training; the evaluation image stays
    assert rows[str(planted["eval_copy"])].reason == "duplicate_of_eval"
    assert rows[str(planted["eval_original"])].role == "eval"
    # a second copy within train is used once
    roles = {rows[str(planted["train_copy"])].role, rows[str(planted["train_original"])].role}
    assert "excluded" in roles and roles - {"excluded"} <= {"train", "val"}
    # the same bytes under two labels: both copies excluded and reported
    for key in ("conflict", "conflict_original"):
        assert rows[str(planted[key])].reason == "conflicting_labels"
    [conflict] = report["conflicting_labels"]
    assert {f["label"] for f in conflict["files"]} == {"large_cell_carcinoma", "squamous_cell_carcinoma"}
    assert report["files"] == 43 and report["unique_images"] == 40
    assert report["excluded"] == {"conflicting_labels": 2, "duplicate": 1, "duplicate_of_eval": 1}
    assert report["eval_as_given"]["total"] == 20 and report["eval_deduplicated"]["total"] == 20
    # no image is both trained on and evaluated
    eval_hashes = {r.sha256 for r in prepared.role("eval")}
    assert not eval_hashes & {r.sha256 for r in prepared.role("train") + prepared.role("val")}
    # WHEN written: one manifest row per file with the fields the issue names, and a JSON report
    manifest, report_path = prep.write(prepared, tmp_path / "prep")
    first = json.loads(manifest.read_text().splitlines()[0])
    assert {"path", "sha256", "label", "split", "width", "height", "mode"} <= set(first)
    assert first["width"] == 48 and first["mode"] == "RGBA"
    assert json.loads(report_path.read_text())["duplicate_files"] == 3
    assert prep.read(tmp_path / "prep").eval_manifest_sha256 == prepared.eval_manifest_sha256


def test_duplicates_inside_the_evaluation_split_count_once_when_deduplicated(tmp_path):
    root = tmp_path / "data"
    for split in ("train", "valid"):
        for i, label in enumerate(LONG_FOLDERS):
            folder = root / split / LONG_FOLDERS[label]
            folder.mkdir(parents=True)
            for k in range(3):
                (folder / f"{k}.png").write_bytes(png_bytes(synthetic_slice(100 * i + k + (50 if split == "valid" else 0), 40, i)))
    normal_valid = root / "valid" / "normal"
    (normal_valid / "0 - Copy.png").write_bytes((normal_valid / "0.png").read_bytes())
    prepared = prep.prepare([root])
    assert len(prepared.evaluation(deduplicated=False)) == 13
    assert len(prepared.evaluation(deduplicated=True)) == 12
    assert prepared.report["eval_duplicate_files"] == 1


def test_short_folder_names_and_no_split_give_a_holdout_that_keeps_copies_together(tmp_path):
    # GIVEN the dataset's short names (DIR/<class>/*), no evaluation split, one image copied twice
    root = tmp_path / "data"
    for i, name in enumerate(["adenocarcinoma", "large.cell.carcinoma", "normal", "squamous.cell.carcinoma"]):
        (root / name).mkdir(parents=True)
        for k in range(6):
            (root / name / f"{k}.png").write_bytes(png_bytes(synthetic_slice(10 * i + k, 40, i)))
    (root / "normal" / "5 (2).png").write_bytes((root / "normal" / "5.png").read_bytes())
    (root / "normal" / "broken.png").write_bytes(b"not an image")
    # WHEN
    prepared = prep.prepare([root], holdout=0.34, seed=1)
    # THEN every class has evaluation images, copies sit on one side, the broken file is excluded
    assert prepared.report["evaluation_source"] == "stratified holdout"
    assert all(prepared.report["eval_as_given"][label] >= 1 for label in LONG_FOLDERS)
    copies = [r for r in prepared.rows if Path(r.path).name in ("5.png", "5 (2).png") and "normal" in r.path]
    assert len({r.role == "eval" for r in copies}) == 1
    assert by_path(prepared)["broken.png"].reason.startswith("unreadable")
    # and the same inputs give the same manifest
    again = prep.prepare([root], holdout=0.34, seed=1)
    assert [r.role for r in again.rows] == [r.role for r in prepared.rows]
