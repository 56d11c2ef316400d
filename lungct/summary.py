"""The study summary: one suggestion for a study, computed from its stored per-image results.

A pure function of the list of results, so the API and the CLI answer the same and a summary is
always consistent with the images it is shown with (the query behind both is a consistent read).

The rule (``SUMMARY_RULE``), chosen to be simple and sensitivity-first, as a second reader should:

1. ``any_finding``: if any classified slice gives a carcinoma class a probability at or above the
   finding threshold, the study's suggestion is the carcinoma class with the highest such maximum
   probability. One slice that shows a tumour makes the study abnormal, however many slices look
   normal: a tumour is seen on a few slices of a volume, never on all of them.
2. ``majority``: otherwise the most frequent per-slice label (ties: the higher mean probability).
   With no confident finding this is usually ``normal``.
3. ``none``: no classified slice, no suggestion.

The study ``needs_review`` when slices disagree (more than one predicted class), when any slice is
flagged for review, when the suggested class's best probability is below the review threshold, or
when nothing could be classified. The suggestion is never a diagnosis.
"""
from __future__ import annotations

from typing import Any, Iterable, Protocol

CLASSIFIED = "CLASSIFIED"
REJECTED = "REJECTED"
NORMAL = "normal"
DEFAULT_FINDING_PROBABILITY = 0.5
DEFAULT_REVIEW_CONFIDENCE = 0.6
SUMMARY_RULE = (
    "any_finding: the carcinoma class with the highest max probability across slices, if that is >= the "
    "finding threshold; else majority: the most frequent slice label (ties: higher mean probability)"
)


class _Result(Protocol):
    status: str
    label: str | None
    probabilities: dict[str, float]
    needs_review: bool
    thresholds: dict[str, float]


def summarize(results: Iterable[_Result]) -> dict[str, Any]:
    """The ``summary`` object of a study document."""
    results = list(results)
    classified = [r for r in results if r.status == CLASSIFIED and r.probabilities]
    rejected = [r for r in results if r.status == REJECTED]
    labels = sorted({label for r in classified for label in r.probabilities})
    per_class = {
        label: {
            "max_probability": round(max(r.probabilities.get(label, 0.0) for r in classified), 4),
            "mean_probability": round(sum(r.probabilities.get(label, 0.0) for r in classified) / len(classified), 4),
            "slices": sum(1 for r in classified if r.label == label),
        }
        for label in labels
    }
    finding_threshold = _threshold(classified, "finding_probability", DEFAULT_FINDING_PROBABILITY)
    review_threshold = _threshold(classified, "review_confidence", DEFAULT_REVIEW_CONFIDENCE)
    suggested, rule = _suggest(classified, per_class, finding_threshold)
    reasons: list[str] = []
    if not classified:
        reasons.append("no_classified_images")
    if len({r.label for r in classified}) > 1:
        reasons.append("images_disagree")
    if suggested is not None and per_class[suggested]["max_probability"] < review_threshold:
        reasons.append("low_confidence")
    flagged = sum(1 for r in results if r.needs_review)
    if flagged:
        reasons.append("images_flagged")
    return {
        "images": len(results),
        "classified": len(classified),
        "rejected": len(rejected),
        "flagged": flagged,
        "classes": per_class,
        "suggested_class": suggested,
        "rule": rule,
        "rule_description": SUMMARY_RULE,
        "thresholds": {"finding_probability": finding_threshold, "review_confidence": review_threshold},
        "needs_review": bool(reasons),
        "review_reasons": reasons,
    }


def _threshold(classified: list[_Result], name: str, default: float) -> float:
    """The threshold the results were made with (the strictest, if models differed)."""
    values = [float(r.thresholds[name]) for r in classified if name in (r.thresholds or {})]
    return max(values) if values else default


def _suggest(classified: list[_Result], per_class: dict[str, dict[str, Any]], threshold: float) -> tuple[str | None, str]:
    if not classified:
        return None, "none"
    findings = {
        label: stats["max_probability"]
        for label, stats in per_class.items()
        if label != NORMAL and stats["max_probability"] >= threshold
    }
    if findings:
        return max(sorted(findings), key=lambda label: findings[label]), "any_finding"
    return (
        max(sorted(per_class), key=lambda label: (per_class[label]["slices"], per_class[label]["mean_probability"])),
        "majority",
    )
