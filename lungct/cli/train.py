"""``lungct train``: the training job's code, from the command line (needs the ``train`` extra)."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train VGG16 on a labelled folder and write a serving artifact")
    p.add_argument("--data", required=True, type=Path, help="DIR/<split>/<class folder>/* or DIR/<class folder>/*")
    p.add_argument("--out", required=True, type=Path, help="artifact folder to write")
    p.add_argument("--weights", default="imagenet", help="imagenet | none | PATH.h5 | s3://bucket/key.h5")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seed", type=int, default=42)
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    try:
        from training_job.train import TrainConfig, train
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SystemExit(f"lungct train needs the train extra (pip install 'lungct[train]'): {exc}")
    config = TrainConfig(
        image_size=args.image_size, epochs=args.epochs, batch_size=args.batch_size,
        weights=args.weights, seed=args.seed,
    )
    train(args.data, args.out, config)
    return 0
