"""Helpers shared by the infra tests (a plain module: tests/ is not a package)."""
from __future__ import annotations

import json
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONCERNS = ("storage", "inference", "api", "training", "monitoring")


def cdk_context() -> dict:
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def resources_of(template, resource_type: str) -> dict:
    return template.find_resources(resource_type)


def only(resources: dict) -> dict:
    assert len(resources) == 1, f"expected exactly one resource, found {list(resources)}"
    return next(iter(resources.values()))
