"""One-off: train VGG16 end to end from random initial weights on the shared CT data.

ImageNet weights can't be downloaded here, and a random-initial base with only a trained head is
not a model worth quantizing (its activations are nothing like a trained network's). This trains
every layer, at the serving input size, for as long as ``--minutes`` allows on this CPU, and
saves the serving model (``image -> {probabilities, features}``) for the export and the
benchmarks. Not part of ``make test``.

    python benchmarks/train_scratch.py --data ../shared/data/chest-ct --out out/scratch --minutes 30
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from lungct.imaging import PreprocessParams  # noqa: E402
from lungct.labels import LABELS  # noqa: E402
from benchmarks.paths import SHARED_DATA  # noqa: E402
from training_job.dataset import scan  # noqa: E402
from training_job.prepare import EVAL_SPLITS  # noqa: E402
from training_job.train import class_weights, load_tensors, set_seeds  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=SHARED_DATA)
    ap.add_argument("--out", type=Path, default=Path("out/scratch"))
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--minutes", type=float, default=30.0, help="wall-clock training budget")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--max-train", type=int, default=0, help="use at most this many training images (0: all)")
    args = ap.parse_args(argv)

    import keras

    from training_job.model import build_classifier

    set_seeds(42)
    params = PreprocessParams(size=args.size)
    samples = scan(args.data)  # the dataset's own splits, as given (613 train, 72 valid)
    train_s = [s for s in samples if s.split not in EVAL_SPLITS]
    eval_s = [s for s in samples if s.split in EVAL_SPLITS]
    x_train, y_train, _ = load_tensors(train_s, params)
    x_eval, y_eval, _ = load_tensors(eval_s, params)
    if args.max_train and len(x_train) > args.max_train:
        pick = np.random.default_rng(0).permutation(len(x_train))[: args.max_train]
        x_train, y_train = x_train[pick], y_train[pick]
    print(f"data: {len(x_train)} train, {len(x_eval)} eval at {args.size}px", flush=True)

    clf = build_classifier(image_size=args.size, weights=None, dropout=0.3)
    model = clf.train_model
    model.compile(optimizer=keras.optimizers.Adam(args.lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    deadline = time.monotonic() + args.minutes * 60

    class Budget(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            if batch % 5 == 0:
                print(f"  batch {batch}: loss={(logs or {}).get('loss', float('nan')):.3f} "
                      f"t={args.minutes * 60 - (deadline - time.monotonic()):.0f}s", flush=True)
            if time.monotonic() > deadline:
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            print(f"epoch {epoch + 1}: {json.dumps({k: round(float(v), 4) for k, v in (logs or {}).items()})}", flush=True)

    t0 = time.monotonic()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, shuffle=True,
              class_weight=class_weights(y_train, len(LABELS)), callbacks=[Budget()], verbose=0)
    trained_s = time.monotonic() - t0
    probs = model.predict(x_eval, batch_size=16, verbose=0)
    acc = float(np.mean(np.argmax(probs, 1) == y_eval))
    args.out.mkdir(parents=True, exist_ok=True)
    clf.serving_model.save(args.out / "serving.keras")
    info = {"image_size": args.size, "train_images": int(len(x_train)), "eval_images": int(len(x_eval)),
            "eval_accuracy": acc, "trained_s": round(trained_s, 1), "lr": args.lr, "batch_size": args.batch_size,
            "eval_predicted_classes": np.bincount(np.argmax(probs, 1), minlength=4).tolist(),
            "weights": "random initial, all layers trained"}
    (args.out / "train.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
