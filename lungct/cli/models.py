"""``lungct publish``: put a serving artifact in the environment and point serving at it."""
from __future__ import annotations

import argparse
from pathlib import Path

from lungct.cli.common import add_env, context
from lungct.model.publish import publish


def register(sub: argparse._SubParsersAction) -> None:
    pub = sub.add_parser("publish", help="upload a serving artifact and make it the environment's model")
    pub.add_argument("artifact", type=Path, help="artifact folder (model.json + model file)")
    add_env(pub)
    pub.set_defaults(func=cmd_publish)


def cmd_publish(args: argparse.Namespace) -> int:
    ctx = context(args)
    uri = publish(
        ctx.client("s3"), ctx.client("ssm"), args.artifact,
        bucket=ctx.names.artifacts_bucket, parameter=ctx.names.model_parameter,
    )
    print(f"published {uri} -> {ctx.names.model_parameter}")
    return 0
