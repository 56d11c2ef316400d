"""Options and helpers shared by the command modules."""
from __future__ import annotations

import argparse

from lungct.aws import AwsContext
from lungct.config import DEFAULT_ENV, validate_env


def add_env(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--env", default=DEFAULT_ENV, type=env_arg,
        help=f"environment to talk to (default: {DEFAULT_ENV}, the embedded AWS started by `lungct local up`)",
    )


def context(args: argparse.Namespace) -> AwsContext:
    return AwsContext.for_env(args.env)


def study_id_arg(value: str) -> str:
    """argparse type: a study ID, refused with the contract's message."""
    from lungct.errors import InvalidKeyError
    from lungct.keys import validate_study_id

    try:
        return validate_study_id(value)
    except InvalidKeyError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def env_arg(value: str) -> str:
    from lungct.errors import ConfigurationError

    try:
        return validate_env(value)
    except ConfigurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
