"""``lungct train``: the training job's code, from the command line (needs the ``train`` extra)."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train VGG16 on a labelled folder and write a serving artifact")
    p.add_argument("--data", required=True, type=Path, help="DIR/<split>/<class folder>/* or DIR/<class folder>/*")
    p.add_argument("--out", required=True, type=Path, help="artifact folder to write")
    p.add_argument("--weights", default="imagenet", help="imagenet | none | PATH.h5 | s3://bucket/key.h5")
    p.add_argument("--epochs", type=int, default=10, help="phase 1: head on frozen base features")
    p.add_argument("--fine-tune-epochs", type=int, default=5, help="phase 2: block5 + head on augmented images (0: skip)")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--fine-tune-learning-rate", type=float, default=1e-5)
    p.add_argument("--patience", type=int, default=5, help="epochs without a better validation macro-F1 before stopping")
    p.add_argument("--no-augment", action="store_true", help="phase 2 without augmentation")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--version", default=None, help="version recorded in model.json (default: a UTC timestamp)")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    try:
        from training_job.train import TrainConfig, train
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SystemExit(f"lungct train needs the train extra (pip install 'lungct[train]'): {exc}")
    config = TrainConfig(
        image_size=args.image_size, epochs=args.epochs, fine_tune_epochs=args.fine_tune_epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate,
        fine_tune_learning_rate=args.fine_tune_learning_rate, patience=args.patience,
        augment=not args.no_augment, weights=args.weights, seed=args.seed, version=args.version,
    )
    train(args.data, args.out, config)
    return 0
