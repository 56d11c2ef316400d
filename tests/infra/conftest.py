"""Synthesize every environment once per session; tests read templates and annotations."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")  # Node 20 EOL banner

from infra_support import CONCERNS, cdk_context  # noqa: E402


@dataclass
class Synthesized:
    outdir: Path
    stages: dict  # env name -> LungctStage
    templates: dict  # (env, concern) -> aws_cdk.assertions.Template

    def template(self, env: str, concern: str):
        return self.templates[(env, concern)]

    def template_files(self) -> list[Path]:
        return sorted(self.outdir.glob("assembly-*/*.template.json"))


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = App(context=cdk_context(), outdir=str(outdir))
    stages = build_app(app)
    app.synth()
    templates = {}
    for env, stage in stages.items():
        for concern, stack in zip(CONCERNS, stage.stacks):
            templates[(env, concern)] = Template.from_stack(stack)
    return Synthesized(outdir=outdir, stages=stages, templates=templates)


@pytest.fixture(scope="session")
def environments() -> list:
    from infra.settings import CONTEXT_KEY, load_environments

    return load_environments(cdk_context()[CONTEXT_KEY])
