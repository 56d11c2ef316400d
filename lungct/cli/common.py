"""Options and helpers shared by the command modules."""
from __future__ import annotations

import argparse

from lungct.aws import AwsContext
from lungct.config import DEFAULT_ENV, validate_env


def add_env(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", default=DEFAULT_ENV, type=validate_env,
        help=f"environment to talk to (default: {DEFAULT_ENV}, the embedded AWS started by `lungct local up`)",
    )


def context(args: argparse.Namespace) -> AwsContext:
    return AwsContext.for_env(args.env)
