"""Data preparation: scan folders into a manifest, assign roles, remove exact duplicates.

Every image gets one manifest row (path, sha256, label, split, width, height, mode) and a role:

- ``eval``: the evaluation set. The dataset's own evaluation split (``valid``, ``val``, ``test``...)
  when present, else a stratified holdout drawn by content hash (copies never straddle the line).
- ``val``: a stratified slice of the training images for early stopping (never the evaluation set:
  we don't tune to the number we report).
- ``train``: the rest.
- ``excluded``: with a ``reason``: ``duplicate_of_eval`` (same bytes as an evaluation image),
  ``duplicate`` (another copy of an image already used), ``conflicting_labels`` (the same bytes
  under two labels: every copy is dropped, evaluation included), ``unreadable``.

Evaluation rows carry ``eval_unique``: the first copy of each non-conflicting image, i.e. the
deduplicated evaluation set; all evaluation rows together are the split "as given".
"""
from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from lungct.errors import ImageRejected, LungctError
from lungct.imaging import decode
from lungct.labels import LABELS
from lungct.model.artifact import file_sha256
from training_job.dataset import Sample, scan

EVAL_SPLITS = ("valid", "validation", "val", "test")
MANIFEST = "manifest.jsonl"
REPORT = "dedup.json"
ROLES = ("train", "val", "eval", "excluded")


@dataclass
class Row:
    path: str
    sha256: str
    label: str
    split: str
    width: int
    height: int
    mode: str
    role: str = "train"
    reason: str = ""
    eval_unique: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass
class Prepared:
    rows: list[Row]
    report: dict[str, Any] = field(default_factory=dict)

    def role(self, role: str) -> list[Row]:
        return [r for r in self.rows if r.role == role]

    def evaluation(self, *, deduplicated: bool) -> list[Row]:
        return [r for r in self.rows if r.role == "eval" and (r.eval_unique or not deduplicated)]

    @property
    def eval_manifest_sha256(self) -> str:
        return eval_manifest_hash(self.rows)


def eval_manifest_hash(rows: Iterable[Row]) -> str:
    """Identity of the deduplicated evaluation set: its images' bytes and labels, not their paths."""
    lines = sorted(f"{r.sha256} {r.label}" for r in rows if r.role == "eval" and r.eval_unique)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def describe(sample: Sample) -> Row:
    """Hash and decode one file; an unreadable one is kept as a row, excluded with a reason."""
    digest = file_sha256(sample.path)
    try:
        image = decode(sample.path.read_bytes())
        width, height, mode, reason = image.width, image.height, image.mode, ""
    except ImageRejected as exc:
        width, height, mode, reason = 0, 0, "", f"unreadable: {exc.code}"
    row = Row(str(sample.path), digest, sample.label, sample.split, width, height, mode)
    if reason:
        row.role, row.reason = "excluded", reason
    return row


def prepare(
    data_dirs: Iterable[Path],
    *,
    eval_splits: Iterable[str] = EVAL_SPLITS,
    holdout: float = 0.2,
    val_fraction: float = 0.15,
    seed: int = 42,
) -> Prepared:
    """Scan ``data_dirs`` and assign every image a role; see the module docstring."""
    dirs = [Path(d) for d in data_dirs]
    if not dirs:
        raise LungctError("no data folders given")
    eval_splits = tuple(s.lower() for s in eval_splits)
    rows = [describe(s) for d in dirs for s in scan(d)]
    readable = [r for r in rows if r.role != "excluded"]

    by_hash: dict[str, list[Row]] = defaultdict(list)
    for r in readable:
        by_hash[r.sha256].append(r)
    conflicts = {h: group for h, group in by_hash.items() if len({r.label for r in group}) > 1}
    for group in conflicts.values():
        for r in group:
            r.role, r.reason = "excluded", "conflicting_labels"

    clean = [r for r in readable if r.sha256 not in conflicts]
    has_eval_split = any(r.split.lower() in eval_splits for r in clean)
    if has_eval_split:
        eval_hashes = {r.sha256 for r in clean if r.split.lower() in eval_splits}
        for r in clean:
            if r.split.lower() in eval_splits:
                r.role = "eval"
    else:
        eval_hashes = _stratified_hashes(clean, holdout, seed)
        for r in clean:
            if r.sha256 in eval_hashes:
                r.role = "eval"

    seen_eval: set[str] = set()
    seen_train: set[str] = set()
    for r in clean:
        if r.role == "eval":
            r.eval_unique = r.sha256 not in seen_eval
            seen_eval.add(r.sha256)
        elif r.sha256 in eval_hashes:
            r.role, r.reason = "excluded", "duplicate_of_eval"
        elif r.sha256 in seen_train:
            r.role, r.reason = "excluded", "duplicate"
        else:
            r.role = "train"
            seen_train.add(r.sha256)

    val_hashes = _stratified_hashes([r for r in clean if r.role == "train"], val_fraction, seed + 1)
    for r in clean:
        if r.role == "train" and r.sha256 in val_hashes:
            r.role = "val"

    prepared = Prepared(rows)
    prepared.report = _report(prepared, dirs, conflicts, has_eval_split)
    return prepared


def _stratified_hashes(rows: list[Row], fraction: float, seed: int) -> set[str]:
    """About ``fraction`` of each label's distinct images (by hash), at least one where a label has two."""
    if fraction <= 0:
        return set()
    rng = random.Random(seed)
    chosen: set[str] = set()
    for label in LABELS:
        hashes = sorted({r.sha256 for r in rows if r.label == label})
        rng.shuffle(hashes)
        n = max(1, int(round(len(hashes) * fraction))) if len(hashes) > 1 else 0
        chosen.update(hashes[:n])
    return chosen


def _counts(rows: list[Row]) -> dict[str, int]:
    out = {label: 0 for label in LABELS}
    for r in rows:
        out[r.label] += 1
    out["total"] = len(rows)
    return out


def _report(prepared: Prepared, dirs: list[Path], conflicts: dict[str, list[Row]], has_eval_split: bool) -> dict[str, Any]:
    rows = prepared.rows
    by_hash: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        if not r.reason.startswith("unreadable"):
            by_hash[r.sha256].append(r)
    dup_groups = [g for g in by_hash.values() if len(g) > 1]
    splits = sorted({r.split for r in rows})
    reasons: dict[str, int] = defaultdict(int)
    for r in prepared.role("excluded"):
        reasons[r.reason] += 1
    evals_given = prepared.evaluation(deduplicated=False)
    return {
        "data_dirs": [str(d) for d in dirs],
        "files": len(rows),
        "unique_images": len(by_hash),
        "files_per_split": {s: _counts([r for r in rows if r.split == s]) for s in splits},
        "duplicate_groups": len(dup_groups),
        "duplicate_files": sum(len(g) - 1 for g in dup_groups),
        "duplicate_groups_within_split": sum(1 for g in dup_groups if len({r.split for r in g}) == 1),
        "duplicate_groups_across_splits": sum(1 for g in dup_groups if len({r.split for r in g}) > 1),
        "eval_images_with_copy_outside_eval": len(
            {r.sha256 for r in rows if r.role == "excluded" and r.reason == "duplicate_of_eval"}
        ),
        "conflicting_labels": [
            {"sha256": h, "files": [{"path": r.path, "label": r.label, "split": r.split} for r in g]}
            for h, g in sorted(conflicts.items())
        ],
        "evaluation_source": "dataset split" if has_eval_split else "stratified holdout",
        "excluded": dict(sorted(reasons.items())),
        "train": _counts(prepared.role("train")),
        "val": _counts(prepared.role("val")),
        "eval_as_given": _counts(evals_given),
        "eval_deduplicated": _counts(prepared.evaluation(deduplicated=True)),
        "eval_duplicate_files": len(evals_given) - len(prepared.evaluation(deduplicated=True)),
        "eval_manifest_sha256": prepared.eval_manifest_sha256,
    }


def write(prepared: Prepared, out_dir: Path) -> tuple[Path, Path]:
    """``manifest.jsonl`` (one row per file) and ``dedup.json`` (the report)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = out_dir / MANIFEST
    manifest.write_text("".join(r.to_json() + "\n" for r in prepared.rows))
    report = out_dir / REPORT
    report.write_text(json.dumps(prepared.report, indent=2, sort_keys=True) + "\n")
    return manifest, report


def read(out_dir_or_manifest: Path) -> Prepared:
    path = Path(out_dir_or_manifest)
    manifest = path / MANIFEST if path.is_dir() else path
    if not manifest.is_file():
        raise LungctError(f"{manifest} does not exist; run the prepare stage first")
    rows = [Row(**json.loads(line)) for line in manifest.read_text().splitlines() if line.strip()]
    report_path = manifest.parent / REPORT
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    return Prepared(rows, report)


def summary_line(report: dict[str, Any]) -> str:
    return (
        f"prepare: {report['files']} files, {report['unique_images']} unique; "
        f"{report['duplicate_files']} duplicate copies in {report['duplicate_groups']} groups; "
        f"{len(report['conflicting_labels'])} conflicting-label image(s); excluded {report['excluded']}; "
        f"train {report['train']['total']}, val {report['val']['total']}, "
        f"eval {report['eval_as_given']['total']} as given / {report['eval_deduplicated']['total']} deduplicated"
    )
