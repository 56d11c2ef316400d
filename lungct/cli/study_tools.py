"""``lungct reclassify`` and ``lungct drift``, and the study summary, heatmap download and DICOM
grouping that ``lungct submit`` / ``lungct results`` use."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

from lungct import DISCLAIMER
from lungct.cli.common import add_env, context, study_id_arg
from lungct.errors import LungctError
from lungct.labels import DISPLAY_NAMES


def register(sub: argparse._SubParsersAction) -> None:
    again = sub.add_parser("reclassify", help="classify stored images again with the current serving model")
    target = again.add_mutually_exclusive_group(required=True)
    target.add_argument("study_id", nargs="?", type=study_id_arg, help="one study")
    target.add_argument("--all", action="store_true", help="every study")
    again.add_argument("--since", help="only objects uploaded since: 7d, 24h, 30m or an ISO date")
    add_env(again)
    again.set_defaults(func=cmd_reclassify)
    drift = sub.add_parser("drift", help="population stability index of recent inputs and predictions vs training")
    drift.add_argument("--since", default="7d", help="results processed since: 7d (default), 24h, 30m or an ISO date")
    drift.add_argument("--json", action="store_true", help="one JSON object")
    add_env(drift)
    drift.set_defaults(func=cmd_drift)


def summary_lines(summary: dict[str, Any] | None) -> list[str]:
    """The study summary under the results table."""
    if not summary:
        return []
    suggested = summary.get("suggested_class")
    shown = DISPLAY_NAMES.get(suggested, suggested) if suggested else "none"
    lines = [
        "",
        f"Summary: {summary['classified']} classified, {summary['rejected']} rejected, {summary['flagged']} flagged",
        f"Suggested for the study: {shown} (rule: {summary['rule']})",
        f"Needs review: {'yes (' + ', '.join(summary['review_reasons']) + ')' if summary['needs_review'] else 'no'}",
    ]
    if summary.get("classes"):
        lines.append(f"  {'class':<26}{'max':>6}{'mean':>7}{'slices':>8}")
        for label, stats in summary["classes"].items():
            lines.append(f"  {DISPLAY_NAMES.get(label, label):<26}{stats['max_probability']:>6.2f}"
                         f"{stats['mean_probability']:>7.2f}{stats['slices']:>8}")
    lines.append(f"Rule: {summary['rule_description']}")
    return lines


def download_heatmaps(ctx: Any, document: dict[str, Any], target: Path) -> int:
    """Each result's overlay to ``target/<image>.png``; the note goes to stderr (stdout may be JSON)."""
    s3 = ctx.client("s3")
    count = 0
    for image in document["images"]:
        key = image.get("heatmap_key")
        if not key:
            continue
        path = Path(target) / f"{image['image']}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(ctx.names.images_bucket, key, str(path))
        count += 1
    print(f"downloaded {count} heatmap(s) to {target}", file=sys.stderr)
    return count


def submit_dicom_studies(ctx: Any, paths: list[Path], files_to_upload: Callable[[list[Path]], list[tuple[Path, str]]]) -> int:
    """``lungct submit`` without ``--study``: one study per StudyInstanceUID."""
    from lungct.dicom_studies import group_by_study
    from lungct.keys import incoming_key

    groups = group_by_study(files_to_upload(paths))
    s3 = ctx.client("s3")
    for study_id, files in sorted(groups.items()):
        for file, image in files:
            s3.upload_file(str(file), ctx.names.images_bucket, incoming_key(study_id, image))
        print(f"submitted {len(files)} file(s) to study {study_id}")
    print(DISCLAIMER)
    return 0


def cmd_reclassify(args: argparse.Namespace) -> int:
    from lungct.drift import parse_since
    from lungct.reclassify import reclassify

    ctx = context(args)
    since = parse_since(args.since) if args.since else None
    queue_url = ctx.client("sqs").get_queue_url(QueueName=ctx.names.queue)["QueueUrl"]
    sent = reclassify(ctx.client("s3"), ctx.client("sqs"), bucket=ctx.names.images_bucket, queue_url=queue_url,
                      region=ctx.region, study_id=None if args.all else args.study_id, since=since)
    scope = "all studies" if args.all else f"study {args.study_id}"
    print(f"queued {sent} image(s) of {scope} for the current serving model")
    print(DISCLAIMER)
    return 0 if sent else 1


def cmd_drift(args: argparse.Namespace) -> int:
    from lungct.drift import drift_report, format_report, parse_since, scan_results, serving_card
    from lungct.results import ResultStore, dumps

    ctx = context(args)
    since = parse_since(args.since)
    card = serving_card(ctx.client("s3"), ctx.client("ssm"), ctx.names.model_parameter)
    store = ResultStore(ctx.client("dynamodb"), ctx.names.results_table)
    report = drift_report(scan_results(store, since), card.reference, since=since,
                          model={"name": card.name, "version": card.version, "sha256": card.sha256})
    print(dumps(report) if args.json else format_report(report))
    if "error" in report:
        raise LungctError(report["error"])
    return 0
