"""``lungct demo``: the main job end to end on an embedded AWS."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="embedded AWS + demo model + three studies + results, then shut down")
    p.add_argument("--examples", type=Path, default=None, help="folder with train/ and studies/ (default: examples/)")
    p.add_argument("--epochs", type=int, default=20)
    p.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from lungct.demo import run_demo

    documents = run_demo(args.examples, epochs=args.epochs)
    missing = [s for s, d in documents.items() if not d["images"]]
    return 1 if missing else 0
