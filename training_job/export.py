"""Export the Keras serving model to the serving artifact (LiteRT) and prove it agrees.

Keras 3 -> ``model.export`` (SavedModel) -> ``TFLiteConverter.from_saved_model`` -> ``.tflite``.
The parity check runs both models on the same images; an artifact that disagrees is refused and
never written as a complete artifact (no ``model.json``). :mod:`training_job.quantize` tries the
faster forms first (full int8, dynamic-range int8, fp32) and publishes the fastest that agrees.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from lungct.imaging import PREPROCESSING_ID, PreprocessParams
from lungct.model.artifact import ModelCard, file_sha256, write_card
from lungct.model.cam import HEAD_FILE, save_head
from training_job.quantize import LADDER, ParityError, choose_form

__all__ = ["LADDER", "ParityError", "export_artifact"]

MODEL_FILE = "model.tflite"
OUTPUTS = {"probabilities": "probabilities", "features": "features"}


def export_artifact(
    serving_model: Any,
    out_dir: Path,
    *,
    name: str,
    version: str,
    labels: list[str],
    params: PreprocessParams,
    parity_images: np.ndarray,
    min_agreement: float = 0.99,
    calibration_images: np.ndarray | None = None,
    forms: tuple[str, ...] = LADDER,
    metrics: dict[str, Any] | None = None,
    notes: str = "",
    extra: dict[str, Any] | None = None,
    head: tuple[np.ndarray, np.ndarray] | None = None,
    mlflow_run_id: str | None = None,
) -> ModelCard:
    """Write ``out_dir`` as a serving artifact; raises ParityError (leaving no card) if it disagrees.

    ``calibration_images`` (training images, not the parity ones) enable the int8 forms. The dense
    head (``head``, or the serving model's ``probabilities`` layer) is stored as ``head.npz`` for
    class activation maps at serving.
    """
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    quantization, check = choose_form(
        serving_model, out_dir / MODEL_FILE, parity_images=parity_images,
        calibration_images=calibration_images, min_agreement=min_agreement, forms=forms,
    )
    model_path = out_dir / MODEL_FILE
    extra = dict(extra or {})
    # the dense head, for class activation maps at serving (no second pass through the network)
    kernel, bias = head if head is not None else serving_model.get_layer("probabilities").get_weights()
    extra.setdefault("head_file", HEAD_FILE)
    extra.setdefault("head_sha256", file_sha256(save_head(out_dir, kernel, bias)))
    if mlflow_run_id is not None:
        extra.setdefault("mlflow_run_id", mlflow_run_id)
    card = ModelCard(
        name=name,
        version=version,
        labels=list(labels),
        input_size=params.size,
        preprocessing_id=PREPROCESSING_ID,
        preprocessing_params=params.to_dict(),
        model_file=MODEL_FILE,
        sha256=file_sha256(model_path),
        runtime="litert",
        quantization=quantization,
        outputs=dict(OUTPUTS),
        metrics=metrics or {},
        parity=check,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        notes=notes,
        **extra,
    )
    write_card(out_dir, card)
    return card
