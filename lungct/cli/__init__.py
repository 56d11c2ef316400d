"""The ``lungct`` command line. Each module registers one group of commands."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

from lungct import DISCLAIMER
from lungct.errors import LungctError


def build_parser() -> argparse.ArgumentParser:
    from lungct.cli import demo, dlq, local, models, registry, studies, train

    parser = argparse.ArgumentParser(
        prog="lungct",
        description=f"Classify chest CT slices on AWS or an embedded AWS. {DISCLAIMER}",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (local, studies, models, registry, train, dlq, demo):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LungctError as exc:
        print(f"lungct: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
