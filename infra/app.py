"""CDK entry point (``cdk.json``: ``python3 infra/app.py``): one stage per environment.

``-c env=dev`` synthesizes one environment, without it every environment in ``cdk.json``.
Synthesis needs no AWS credentials, no lookups and no Docker: image assets are only staged.
"""
from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:  # `python3 infra/app.py` puts infra/, not the repo, on sys.path
    sys.path.insert(0, str(REPO_ROOT))

from aws_cdk import App  # noqa: E402

from infra.settings import CONTEXT_KEY, SELECT_KEY, load_environments  # noqa: E402
from infra.stage import LungctStage  # noqa: E402


def build_app(app: App) -> dict[str, LungctStage]:
    """Add a stage for each selected environment to ``app``."""
    selected = app.node.try_get_context(SELECT_KEY)
    environments = load_environments(app.node.try_get_context(CONTEXT_KEY), selected)
    return {settings.name: LungctStage(app, settings=settings) for settings in environments}


def main() -> None:
    app = App()
    build_app(app)
    app.synth()


if __name__ == "__main__":
    main()
