"""Evaluation: metrics on the evaluation split as given and deduplicated, plots, class activation maps.

Writes ``metrics.json`` (DVC metrics), ``confusion_matrix.png``, ``roc.png`` and ``cam_grid.png``
(DVC plots). The number the gate compares is the deduplicated macro-F1: an image counted twice
would weigh twice.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lungct.imaging import PreprocessParams
from lungct.labels import DISPLAY_NAMES, LABELS
from lungct.model.cam import class_activation_map
from training_job.metrics import classification_report, roc_curve
from training_job.prepare import Prepared

METRICS = "metrics.json"
PLOTS = ("confusion_matrix.png", "roc.png", "cam_grid.png")
GATE_METRIC = "dedup_macro_f1"
SUMMARY_KEYS = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc", "images")


@dataclass
class Evaluation:
    x: np.ndarray
    y: np.ndarray
    probs: np.ndarray
    features: np.ndarray
    unique: np.ndarray  # bool mask: the deduplicated evaluation set
    report: dict[str, Any] = field(default_factory=dict)


def evaluate_classifier(clf: Any, prepared: Prepared, params: PreprocessParams, *, batch_size: int = 16) -> Evaluation:
    from training_job.train import load_rows

    rows = prepared.evaluation(deduplicated=False)
    x, y = load_rows(rows, params)
    if len(x):
        out = clf.serving_model.predict(x, batch_size=batch_size, verbose=0)
        probs, features = np.asarray(out["probabilities"], np.float64), np.asarray(out["features"], np.float32)
    else:
        probs, features = np.zeros((0, len(LABELS))), np.zeros((0, 1, 1, 1), np.float32)
    unique = np.asarray([r.eval_unique for r in rows], dtype=bool)
    report = {
        "eval_manifest_sha256": prepared.eval_manifest_sha256,
        "as_given": classification_report(y, probs, LABELS),
        "deduplicated": classification_report(y[unique], probs[unique], LABELS),
    }
    return Evaluation(x=x, y=y, probs=probs, features=features, unique=unique, report=report)


def summary_metrics(report: dict[str, Any]) -> dict[str, Any]:
    """Flat numbers for ``model.json`` and MLflow: ``eval_*`` (as given) and ``dedup_*`` (deduplicated)."""
    out: dict[str, Any] = {}
    for prefix, key in (("eval", "as_given"), ("dedup", "deduplicated")):
        for name in SUMMARY_KEYS:
            value = report.get(key, {}).get(name)
            if value is not None:
                out[f"{prefix}_{name}"] = value
    if "eval_manifest_sha256" in report:
        out["eval_manifest_sha256"] = report["eval_manifest_sha256"]
    return out


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(cm: np.ndarray, labels: list[str], path: Path, *, title: str) -> Path:
    plt = _pyplot()
    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(cm, cmap="Blues")
    names = [DISPLAY_NAMES.get(label, label) for label in labels]
    ax.set_xticks(range(len(labels)), names, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    peak = cm.max() if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > peak / 2 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_roc(y: np.ndarray, probs: np.ndarray, labels: list[str], per_class: dict[str, Any], path: Path,
             *, title: str) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5))
    for c, label in enumerate(labels):
        auc = per_class[label]["auc"]
        if auc is None:
            continue
        fpr, tpr = roc_curve(probs[:, c], y == c)
        ax.plot(fpr, tpr, label=f"{DISPLAY_NAMES.get(label, label)} (AUC {auc:.2f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_cam_grid(evaluation: Evaluation, kernel: np.ndarray, path: Path, *, count: int = 8, cols: int = 4) -> Path:
    """Evaluation slices with the predicted class's activation map overlaid."""
    plt = _pyplot()
    count = min(count, len(evaluation.x))
    rows = max(1, -(-count // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(count):
        pred = int(np.argmax(evaluation.probs[i]))
        image = evaluation.x[i]
        cam = class_activation_map(evaluation.features[i], kernel, pred, size=image.shape[0])
        ax = axes.ravel()[i]
        ax.imshow(image[:, :, 0], cmap="gray", vmin=0, vmax=255)
        ax.imshow(cam, cmap="jet", alpha=0.35, vmin=0, vmax=1)
        ax.set_title(f"true {LABELS[int(evaluation.y[i])][:12]}\npred {LABELS[pred][:12]} "
                     f"{evaluation.probs[i, pred]:.2f}", fontsize=8)
    fig.suptitle("class activation maps (predicted class)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def write(evaluation: Evaluation, kernel: np.ndarray, out_dir: Path, *, cam_images: int = 8) -> dict[str, Path]:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report = evaluation.report
    metrics_path = out_dir / METRICS
    metrics_path.write_text(json.dumps({**report, "summary": summary_metrics(report)}, indent=2, sort_keys=True) + "\n")
    paths = {"metrics": metrics_path}
    labels = list(LABELS)
    if len(evaluation.y):
        given = report["as_given"]
        paths["confusion_matrix"] = plot_confusion_matrix(
            np.asarray(given["confusion_matrix"]), labels, out_dir / PLOTS[0],
            title=f"evaluation as given ({given['images']} images)")
        paths["roc"] = plot_roc(evaluation.y, evaluation.probs, labels, given["per_class"], out_dir / PLOTS[1],
                                title="one-vs-rest ROC, evaluation as given")
        paths["cam_grid"] = plot_cam_grid(evaluation, kernel, out_dir / PLOTS[2], count=cam_images)
    return paths


def summary_line(report: dict[str, Any]) -> str:
    def fmt(r: dict[str, Any]) -> str:
        parts = [f"{k}={r[k]:.3f}" for k in ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc")
                 if r.get(k) is not None]
        return f"{r['images']} images " + " ".join(parts)

    return f"evaluate: as given {fmt(report['as_given'])}; deduplicated {fmt(report['deduplicated'])}"
