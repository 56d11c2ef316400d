"""The champion/challenger gate's rules, on registry versions as plain objects."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from training_job.registry import decide


def version(v: str, f1: float | None, manifest: str = "m1", parity: str = "true") -> SimpleNamespace:
    tags = {"dedup_macro_f1": "" if f1 is None else f"{f1:.6f}", "eval_manifest_sha256": manifest,
            "parity_passed": parity}
    return SimpleNamespace(version=v, tags=tags)


def test_a_challenger_within_the_tolerance_is_promoted_and_one_below_it_is_not():
    champion = version("1", 0.80)
    assert decide(version("2", 0.795), champion, tolerance=0.01).promote
    assert decide(version("2", 0.80), champion, tolerance=0.0).promote
    refused = decide(version("2", 0.78), champion, tolerance=0.01)
    assert not refused.promote and "keeping the champion" in refused.reason


def test_parity_failure_refuses_even_the_best_score():
    decision = decide(version("2", 0.99, parity="false"), version("1", 0.1))
    assert not decision.promote and "parity" in decision.reason


def test_the_first_version_becomes_champion_when_it_passed_parity():
    assert decide(version("1", 0.2), None).promote


def test_scores_on_different_manifests_are_refused_unless_the_champion_is_re_evaluated():
    challenger, champion = version("2", 0.7, manifest="m2"), version("1", 0.9, manifest="m1")
    refused = decide(challenger, champion)
    assert not refused.promote and "not comparable" in refused.reason
    seen = []
    rescored = decide(challenger, champion, reevaluate=lambda v: seen.append(v.version) or 0.65)
    assert rescored.promote and rescored.champion_score == pytest.approx(0.65) and seen == ["1"]
    assert not decide(challenger, champion, reevaluate=lambda v: 0.95).promote
