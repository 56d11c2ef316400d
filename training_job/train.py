"""Train VGG16 transfer learning on a prepared manifest.

Phase 1 trains the head (pooling -> dropout -> dense) on base features computed once per run:
cheap, and most of the gain with ImageNet weights. Phase 2 fine-tunes the last conv block (block5)
at a low learning rate on augmented images. Both phases weight classes by inverse frequency and
stop early on the validation split's macro-F1, keeping the best weights. Seeds are fixed.

:func:`train` is the one-call version (folder in, serving artifact out) that ``lungct train``, the
demo and the tests use; the DVC stages and the Batch job call the steps one by one.
"""
from __future__ import annotations

import json
import os
import random
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lungct.config import REGISTERED_MODEL
from lungct.errors import ImageRejected, LungctError
from lungct.imaging import PreprocessParams, preprocess
from lungct.labels import LABELS
from lungct.model.artifact import ModelCard
from training_job.dataset import Sample
from training_job.prepare import EVAL_SPLITS, Prepared, Row
from training_job.reference import card_extra

Progress = Callable[[str], None]
MODEL_FILE = "model.keras"
TRAIN_INFO = "train.json"
HISTORY_CSV = "history.csv"

__all__ = ["EVAL_SPLITS", "TrainConfig", "TrainResult", "class_weights", "fit", "load_classifier",
           "load_rows", "load_tensors", "save", "set_seeds", "train"]


@dataclass
class TrainConfig:
    image_size: int = 224
    epochs: int = 10
    fine_tune_epochs: int = 5
    batch_size: int = 16
    learning_rate: float = 1e-3
    fine_tune_learning_rate: float = 1e-5
    dropout: float = 0.3
    weights: str | None = "imagenet"
    seed: int = 42
    holdout: float = 0.2
    val_fraction: float = 0.15
    patience: int = 5
    augment: bool = True
    precision: str = "auto"  # auto: mixed_float16 on a GPU, float32 on a CPU | mixed | float32
    min_agreement: float = 0.99
    forms: str = "int8,dynamic,fp32"  # the export ladder: the first form that passes parity is published
    name: str = REGISTERED_MODEL
    version: str | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        for name in ("epochs", "fine_tune_epochs", "patience"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0; received {name}={getattr(self, name)}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be at least 1; received epochs={self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; received batch_size={self.batch_size}")

    @property
    def export_forms(self) -> tuple[str, ...]:
        from training_job.quantize import FORMS

        forms = tuple(f.strip() for f in self.forms.split(",") if f.strip())
        unknown = [f for f in forms if f not in FORMS]
        if unknown or not forms:
            raise LungctError(f"forms={self.forms!r}: use a comma-separated list of {', '.join(FORMS)}")
        return forms

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise LungctError(f"unknown training parameters {sorted(unknown)}; known: {sorted(known)}")
        return cls(**raw)


@dataclass
class TrainResult:
    clf: Any  # training_job.model.VggClassifier
    config: TrainConfig
    params: PreprocessParams
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per epoch, both phases
    best: dict[str, Any] = field(default_factory=dict)
    mixed_precision: bool = False
    card_extra: dict[str, Any] = field(default_factory=dict)  # drift reference + thresholds for model.json


def set_seeds(seed: int) -> None:
    import keras

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def load_tensors(samples: list[Sample], params: PreprocessParams) -> tuple[np.ndarray, np.ndarray, list[Sample]]:
    """Preprocess with the serving function; unreadable files are skipped."""
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


def load_rows(rows: list[Row], params: PreprocessParams) -> tuple[np.ndarray, np.ndarray]:
    """Manifest rows -> the model's input tensors (the one preprocess function) and label indices."""
    size = params.size
    if not rows:
        return np.zeros((0, size, size, 3), np.float32), np.zeros(0, np.int64)
    x = np.stack([preprocess(Path(r.path).read_bytes(), params) for r in rows])
    return x, np.asarray([LABELS.index(r.label) for r in rows], dtype=np.int64)


def class_weights(y: np.ndarray, num_classes: int) -> dict[int, float]:
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.where(present, counts.sum() / (present.sum() * np.maximum(counts, 1)), 0.0)
    return {i: float(w) for i, w in enumerate(weights)}


def macro_f1(y_true: np.ndarray, probs: np.ndarray) -> float:
    from training_job.metrics import classification_report

    return float(classification_report(y_true, probs, LABELS)["macro_f1"] or 0.0)


def _callbacks(phase: int, x_val: np.ndarray | None, y_val: np.ndarray, config: TrainConfig,
               history: list[dict[str, Any]], progress: Progress, batch_size: int,
               start: tuple[float, Any] | None = None) -> list[Any]:
    """Early stopping on validation macro-F1 and per-epoch lines. ``start`` (score, weights) is the
    result to beat: fine-tuning that never improves on phase 1 leaves phase 1's weights."""
    import keras

    class MacroF1Stopping(keras.callbacks.Callback):
        """Early stopping on validation macro-F1; restores the best epoch's weights at the end."""

        def __init__(self) -> None:
            super().__init__()
            self.best, self.best_epoch, self.best_weights, self.wait = -1.0, 0, None, 0
            if start is not None and start[1] is not None:
                self.best, self.best_weights = start
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs if logs is not None else {}
            if x_val is None or not len(x_val):
                return
            score = macro_f1(y_val, self.model.predict(x_val, batch_size=batch_size, verbose=0))
            logs["val_macro_f1"] = score
            if score > self.best:
                self.best, self.best_epoch, self.wait = score, epoch + 1, 0
                self.best_weights = self.model.get_weights()
            else:
                self.wait += 1
                if config.patience and self.wait >= config.patience:
                    self.model.stop_training = True

        def on_train_end(self, logs: dict | None = None) -> None:
            if self.best_weights is not None:
                self.model.set_weights(self.best_weights)

    class Recorder(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            record = {"phase": phase, "epoch": epoch + 1, "step": len(history) + 1}
            record.update({k: float(v) for k, v in (logs or {}).items() if np.isscalar(v)})
            history.append(record)
            shown = " ".join(f"{k}={v:.3f}" for k, v in sorted(record.items()) if isinstance(v, float))
            progress(f"phase {phase} epoch {epoch + 1}/{self.params.get('epochs', '?')}: {shown}")

    return [MacroF1Stopping(), Recorder()]


def fit(prepared: Prepared, config: TrainConfig, *, progress: Progress = print) -> TrainResult:
    """Both phases on the manifest's ``train`` rows, early stopping on its ``val`` rows."""
    import keras
    import tensorflow as tf

    from training_job.model import build_augmentation, build_classifier, set_fine_tuning, use_mixed_precision_if_gpu
    from training_job.weights import resolve_weights

    set_seeds(config.seed)
    mixed = use_mixed_precision_if_gpu(config.precision)
    params = PreprocessParams(size=config.image_size)
    x_train, y_train = load_rows(prepared.role("train"), params)
    x_val, y_val = load_rows(prepared.role("val"), params)
    if not len(x_train):
        raise LungctError("the manifest has no training images; check the data folders and the dedup report")
    progress(f"data: {len(x_train)} training, {len(x_val)} validation images at {config.image_size}px"
             f"{' (mixed precision)' if mixed else ''}")
    clf = build_classifier(image_size=config.image_size, weights=resolve_weights(config.weights), dropout=config.dropout)
    history: list[dict[str, Any]] = []
    weights = class_weights(y_train, len(LABELS))

    # Phase 1: the head on base features computed once.
    clf.base.trainable = False
    feature_model = keras.Model(clf.train_model.input, clf.train_model.get_layer("pool").output)
    f_train = feature_model.predict(x_train, batch_size=config.batch_size, verbose=0)
    f_val = feature_model.predict(x_val, batch_size=config.batch_size, verbose=0) if len(x_val) else None
    clf.head.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                     loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    cbs = _callbacks(1, f_val, y_val, config, history, progress, config.batch_size)
    clf.head.fit(f_train, y_train, epochs=config.epochs, batch_size=config.batch_size, class_weight=weights,
                 verbose=0, callbacks=cbs, shuffle=True)
    best: dict[str, Any] = {"phase1_val_macro_f1": cbs[0].best if cbs[0].best >= 0 else None,
                            "phase1_best_epoch": cbs[0].best_epoch}

    # Phase 2: fine-tune block5 on augmented images at a low learning rate.
    if config.fine_tune_epochs > 0:
        set_fine_tuning(clf)
        augment = build_augmentation(seed=config.seed) if config.augment else None
        sample_w = np.asarray([weights[int(y)] for y in y_train], dtype=np.float32)
        ds = tf.data.Dataset.from_tensor_slices((x_train, y_train, sample_w)).shuffle(
            len(x_train), seed=config.seed, reshuffle_each_iteration=True).batch(config.batch_size)
        if augment is not None:
            ds = ds.map(lambda x, y, w: (augment(x, training=True), y, w), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.prefetch(tf.data.AUTOTUNE)
        clf.train_model.compile(optimizer=keras.optimizers.Adam(config.fine_tune_learning_rate),
                                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        phase1 = (best["phase1_val_macro_f1"], clf.train_model.get_weights()) if len(x_val) else None
        cbs = _callbacks(2, x_val if len(x_val) else None, y_val, config, history, progress, config.batch_size,
                         start=phase1)
        clf.train_model.fit(ds, epochs=config.fine_tune_epochs, verbose=0, callbacks=cbs, shuffle=False)
        best.update({"phase2_val_macro_f1": cbs[0].best if cbs[0].best >= 0 else None,
                     "phase2_best_epoch": cbs[0].best_epoch})  # epoch 0: phase 1's weights were kept
        set_fine_tuning(clf, block=None)
    return TrainResult(clf=clf, config=config, params=params, history=history, best=best, mixed_precision=mixed,
                       card_extra=card_extra(x_train, y_train))


def save(result: TrainResult, out_dir: Path) -> Path:
    """``model.keras`` and ``train.json`` (configuration, per-epoch history, best epochs)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    result.clf.train_model.save(out_dir / MODEL_FILE)
    info = {"config": asdict(result.config), "history": result.history, "best": result.best,
            "mixed_precision": result.mixed_precision, "labels": list(LABELS), "card_extra": result.card_extra}
    (out_dir / TRAIN_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    columns = ["step", "phase", "epoch", "loss", "accuracy", "val_macro_f1"]
    lines = [",".join(columns)] + [
        ",".join("" if r.get(c) is None else str(r.get(c)) for c in columns) for r in result.history
    ]
    (out_dir / HISTORY_CSV).write_text("\n".join(lines) + "\n")
    return out_dir


def load_classifier(train_dir: Path) -> tuple[Any, TrainConfig, dict[str, Any]]:
    """Rebuild the float32 models and load the trained weights (serving and export never run mixed)."""
    import keras

    from training_job.model import build_classifier

    train_dir = Path(train_dir)
    info_path = train_dir / TRAIN_INFO
    if not info_path.is_file() or not (train_dir / MODEL_FILE).is_file():
        raise LungctError(f"{train_dir} holds no trained model ({MODEL_FILE}, {TRAIN_INFO}); run the train stage")
    info = json.loads(info_path.read_text())
    config = TrainConfig.from_dict(info["config"])
    keras.mixed_precision.set_global_policy("float32")
    clf = build_classifier(image_size=config.image_size, num_classes=len(info["labels"]), weights=None,
                           dropout=config.dropout)
    clf.train_model.load_weights(train_dir / MODEL_FILE)
    return clf, config, info


def calibration_images(prepared: Prepared, params: PreprocessParams, count: int = 200) -> np.ndarray:
    """Up to ``count`` training images, spread over the (class-sorted) rows: int8 calibration data."""
    from training_job.quantize import calibration_subset

    rows = prepared.role("train")
    return load_rows([rows[i] for i in calibration_subset(np.arange(len(rows)), count)], params)[0]


def head_weights(clf: Any) -> tuple[np.ndarray, np.ndarray]:
    kernel, bias = clf.train_model.get_layer("probabilities").get_weights()
    return np.asarray(kernel, np.float32), np.asarray(bias, np.float32)


def float32_twin(result: TrainResult) -> Any:
    """The trained weights in a float32 model: evaluation and export never run mixed."""
    import keras

    from training_job.model import build_classifier

    keras.mixed_precision.set_global_policy("float32")
    config = result.config
    twin = build_classifier(image_size=config.image_size, weights=None, dropout=config.dropout)
    twin.train_model.set_weights(result.clf.train_model.get_weights())
    return twin


def train(data_dir: Path, out_dir: Path, config: TrainConfig, *, progress: Progress = print) -> ModelCard:
    """Folder in, serving artifact out: prepare -> fit -> evaluate -> export (no files besides the artifact)."""
    from training_job.evaluate import evaluate_classifier, summary_metrics
    from training_job.export import export_artifact
    from training_job.prepare import prepare, summary_line

    prepared = prepare([Path(data_dir)], holdout=config.holdout, val_fraction=config.val_fraction, seed=config.seed)
    progress(summary_line(prepared.report))
    result = fit(prepared, config, progress=progress)
    clf = float32_twin(result) if result.mixed_precision else result.clf
    evaluation = evaluate_classifier(clf, prepared, result.params, batch_size=config.batch_size)
    version = config.version or datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    parity_images = evaluation.x if len(evaluation.x) else load_rows(prepared.role("train")[:32], result.params)[0]
    card = export_artifact(
        clf.serving_model,
        Path(out_dir),
        name=config.name,
        version=version,
        labels=list(LABELS),
        params=result.params,
        parity_images=parity_images[:64],
        min_agreement=config.min_agreement,
        forms=config.export_forms,
        calibration_images=calibration_images(prepared, result.params),
        metrics=summary_metrics(evaluation.report),
        notes=config.notes,
        head=head_weights(clf),
        extra=result.card_extra,
    )
    progress(f"artifact: {out_dir} ({card.name} {card.version}, parity {card.parity['top1_agreement']:.1%})")
    return card
