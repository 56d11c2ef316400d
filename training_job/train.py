"""Train VGG16 transfer learning on a labelled folder and write a serving artifact.

Phase 1 trains the head on base features computed once per run (cheap on a CPU, the bulk of the
gain on a GPU too). The training-job issue deepens this with fine-tuning, dedup-aware splits,
evaluation, MLflow and DVC.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np

from lungct.config import REGISTERED_MODEL
from lungct.errors import ImageRejected, LungctError
from lungct.imaging import PreprocessParams, preprocess
from lungct.labels import LABELS
from lungct.model.artifact import ModelCard
from training_job.dataset import Sample, scan

EVAL_SPLITS = ("valid", "validation", "val", "test")


@dataclass
class TrainConfig:
    image_size: int = 224
    epochs: int = 10
    batch_size: int = 16
    learning_rate: float = 1e-3
    dropout: float = 0.3
    weights: str | None = "imagenet"
    seed: int = 42
    holdout: float = 0.2
    name: str = REGISTERED_MODEL
    version: str | None = None
    notes: str = ""


def set_seeds(seed: int) -> None:
    import keras

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def split_samples(samples: list[Sample], holdout: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """Use the dataset's own evaluation split when present, else a stratified holdout."""
    evals = [s for s in samples if s.split in EVAL_SPLITS]
    if evals:
        return [s for s in samples if s.split not in EVAL_SPLITS], evals
    rng = random.Random(seed)
    train, held = [], []
    for label in LABELS:
        group = [s for s in samples if s.label == label]
        rng.shuffle(group)
        n = max(1, int(round(len(group) * holdout))) if len(group) > 1 else 0
        held.extend(group[:n])
        train.extend(group[n:])
    return train, held


def load_tensors(samples: list[Sample], params: PreprocessParams) -> tuple[np.ndarray, np.ndarray, list[Sample]]:
    """Preprocess with the serving function; unreadable files are skipped and counted."""
    xs, ys, kept = [], [], []
    for s in samples:
        try:
            xs.append(preprocess(s.path.read_bytes(), params))
        except ImageRejected:
            continue
        ys.append(LABELS.index(s.label))
        kept.append(s)
    if not xs:
        raise LungctError("no readable images to train on")
    return np.stack(xs), np.asarray(ys, dtype=np.int64), kept


def class_weights(y: np.ndarray, num_classes: int) -> dict[int, float]:
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.where(present, counts.sum() / (present.sum() * np.maximum(counts, 1)), 0.0)
    return {i: float(w) for i, w in enumerate(weights)}


def train(data_dir: Path, out_dir: Path, config: TrainConfig, *, progress: Callable[[str], None] = print) -> ModelCard:
    import keras

    from training_job.export import export_artifact
    from training_job.quantize import calibration_subset
    from training_job.model import build_classifier
    from training_job.weights import resolve_weights

    set_seeds(config.seed)
    params = PreprocessParams(size=config.image_size)
    train_s, eval_s = split_samples(scan(Path(data_dir)), config.holdout, config.seed)
    x_train, y_train, _ = load_tensors(train_s, params)
    x_eval, y_eval, _ = load_tensors(eval_s, params) if eval_s else (x_train[:0], y_train[:0], [])
    progress(f"data: {len(x_train)} training and {len(x_eval)} evaluation images at {config.image_size}px")
    clf = build_classifier(
        image_size=config.image_size, weights=resolve_weights(config.weights), dropout=config.dropout
    )
    feature_model = keras.Model(clf.train_model.input, clf.train_model.get_layer("pool").output)
    f_train = feature_model.predict(x_train, batch_size=config.batch_size, verbose=0)
    f_eval = feature_model.predict(x_eval, batch_size=config.batch_size, verbose=0) if len(x_eval) else None
    clf.head.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = clf.head.fit(
        f_train,
        y_train,
        epochs=config.epochs,
        batch_size=config.batch_size,
        class_weight=class_weights(y_train, len(LABELS)),
        validation_data=(f_eval, y_eval) if f_eval is not None else None,
        verbose=0,
        callbacks=[_EpochPrinter(progress)],
    )
    metrics: dict[str, float] = {"train_accuracy": float(history.history["accuracy"][-1])}
    if len(x_eval):
        probs = clf.train_model.predict(x_eval, batch_size=config.batch_size, verbose=0)
        metrics["eval_accuracy"] = float(np.mean(np.argmax(probs, 1) == y_eval))
        metrics["eval_images"] = int(len(x_eval))
    version = config.version or datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    parity_images = x_eval if len(x_eval) else x_train[:32]
    card = export_artifact(
        clf.serving_model,
        Path(out_dir),
        name=config.name,
        version=version,
        labels=list(LABELS),
        params=params,
        parity_images=parity_images[:64],
        calibration_images=calibration_subset(x_train),
        metrics=metrics,
        notes=config.notes,
    )
    progress(f"artifact: {out_dir} ({card.name} {card.version}, parity {card.parity['top1_agreement']:.1%})")
    return card


class _EpochPrinter:
    """A Keras callback printing one line per epoch (Batch logs and terminals alike)."""

    def __new__(cls, progress: Callable[[str], None]):  # type: ignore[misc]
        import keras

        class Printer(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                logs = logs or {}
                shown = " ".join(f"{k}={v:.3f}" for k, v in sorted(logs.items()) if isinstance(v, float))
                progress(f"epoch {epoch + 1}/{self.params.get('epochs', '?')}: {shown}")

        return Printer()
