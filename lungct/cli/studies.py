"""``lungct submit`` and ``lungct results``: put images in, read what the model found."""
from __future__ import annotations

import argparse
from pathlib import Path

from lungct.cli import study_tools
from lungct.cli.common import add_env, context, study_id_arg
from lungct.errors import LungctError
from lungct.keys import incoming_key
from lungct.query import study_document
from lungct.results import ResultStore, dumps
from lungct.labels import DISPLAY_NAMES
from lungct import DISCLAIMER



def register(sub: argparse._SubParsersAction) -> None:
    submit = sub.add_parser("submit", help="upload files and folders to incoming/<study>/")
    submit.add_argument("paths", nargs="+", type=Path)
    submit.add_argument("--study", type=study_id_arg,
                        help="study ID (A-Z a-z 0-9 . _ -); without it, DICOM files are grouped by StudyInstanceUID")
    add_env(submit)
    submit.set_defaults(func=cmd_submit)
    results = sub.add_parser("results", help="what the model found for a study")
    results.add_argument("study_id", type=study_id_arg)
    results.add_argument("--json", action="store_true", help="one JSON object, as the HTTP API returns")
    results.add_argument("--heatmaps", type=Path, metavar="DIR", help="download the heatmap overlays into DIR")
    add_env(results)
    results.set_defaults(func=cmd_results)
    study_tools.register(sub)


def files_to_upload(paths: list[Path]) -> list[tuple[Path, str]]:
    """(file, image path under the study): folders recursively, keeping their inner structure."""
    found: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for f in sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")):
                found.append((f, f.relative_to(path).as_posix()))
        elif path.is_file():
            found.append((path, path.name))
        else:
            raise LungctError(f"{path} is neither a file nor a folder")
    return found


def submit(ctx, study_id: str, paths: list[Path]) -> list[str]:
    s3 = ctx.client("s3")
    keys = []
    for file, image in files_to_upload(paths):
        key = incoming_key(study_id, image)
        s3.upload_file(str(file), ctx.names.images_bucket, key)
        keys.append(key)
    return keys


def cmd_submit(args: argparse.Namespace) -> int:
    if args.study is None:
        return study_tools.submit_dicom_studies(context(args), args.paths, files_to_upload)
    keys = submit(context(args), args.study, args.paths)
    print(f"submitted {len(keys)} file(s) to study {args.study}")
    return 0


def format_table(document: dict) -> str:
    rows = [("image", "status", "finding", "confidence", "review", "model")]
    rejected: list[str] = []
    for r in document["images"]:
        if r["status"] == "CLASSIFIED":
            finding = DISPLAY_NAMES.get(r.get("label") or "", "")
        else:  # the full reason goes under the table, where it is not cut
            rejected.append(f"  {r['image']}: {r.get('reason') or r.get('reason_code') or 'no reason recorded'}")
            finding = f"({r.get('reason_code') or 'rejected'})"
        conf = f"{r['confidence']:.2f}" if r.get("confidence") is not None else "-"
        review = ",".join(r.get("review_reasons") or []) if r.get("needs_review") else ""
        rows.append((r["image"], r["status"], finding, conf, review, str(r.get("model_version") or "-")))
    widths = [min(60, max(len(str(row[i])) for row in rows)) for i in range(len(rows[0]))]
    lines = [f"Study {document['study_id']}: {len(document['images'])} image(s)"]
    for row in rows:
        lines.append("  ".join(str(c)[:60].ljust(w) for c, w in zip(row, widths)).rstrip())
    if rejected:
        lines.extend(["", "Rejected:", *rejected])
    lines.extend(study_tools.summary_lines(document.get("summary")))
    lines.append(DISCLAIMER)
    return "\n".join(lines)


def cmd_results(args: argparse.Namespace) -> int:
    ctx = context(args)
    document = study_document(ResultStore(ctx.client("dynamodb"), ctx.names.results_table), args.study_id)
    print(dumps(document) if args.json else format_table(document))
    if args.heatmaps is not None:
        study_tools.download_heatmaps(ctx, document, args.heatmaps)
    return 0 if document["images"] else 1
