"""The serving artifact: a folder with the model file and ``model.json`` describing it.

``model.json`` carries everything serving must agree on with training (labels and their order,
input size, preprocessing id and parameters) plus provenance (metrics, parity, MLflow run, sha256).
Loading checks the sha256 and the preprocessing id, so a tampered or mismatched artifact never
serves.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lungct.errors import ArtifactError
from lungct.imaging import PREPROCESSING_ID, PreprocessParams
from lungct.labels import LABELS

MODEL_CARD = "model.json"
SCHEMA_VERSION = 1


@dataclass
class ModelCard:
    name: str
    version: str
    labels: list[str]
    input_size: int
    preprocessing_id: str
    preprocessing_params: dict[str, Any]
    model_file: str
    sha256: str
    runtime: str = "litert"
    quantization: str = "fp32"
    outputs: dict[str, str] = field(default_factory=lambda: {"probabilities": "output_0"})
    metrics: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=lambda: {"review_confidence": 0.6})
    reference: dict[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    head_file: str | None = None  # optional: dense kernel + bias (.npz) for class activation maps
    head_sha256: str | None = None
    created_at: str = ""
    intended_use: str = "research use only, not for diagnostic use"
    notes: str = ""
    schema: int = SCHEMA_VERSION

    @property
    def preprocess_params(self) -> PreprocessParams:
        return PreprocessParams.from_dict(self.preprocessing_params)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelCard:
        known = set(cls.__dataclass_fields__)
        missing = {"name", "version", "labels", "input_size", "preprocessing_id", "model_file", "sha256"} - set(raw)
        if missing:
            raise ArtifactError(f"{MODEL_CARD} lacks {sorted(missing)}; re-export the model with lungct")
        return cls(**{k: v for k, v in raw.items() if k in known})


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_card(directory: Path, card: ModelCard) -> Path:
    directory = Path(directory)
    path = directory / MODEL_CARD
    path.write_text(json.dumps(card.to_dict(), indent=2, sort_keys=True) + "\n")
    return path


def load_card(directory: Path, *, verify: bool = True) -> ModelCard:
    """Read ``model.json``; with ``verify`` check the model file's sha256 and the preprocessing."""
    directory = Path(directory)
    path = directory / MODEL_CARD
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist; an artifact folder holds {MODEL_CARD} and the model file")
    try:
        card = ModelCard.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ArtifactError(f"{path} is not a valid model card: {exc}") from exc
    if card.preprocessing_id != PREPROCESSING_ID:
        raise ArtifactError(
            f"model {card.name}:{card.version} was trained with preprocessing {card.preprocessing_id!r}, "
            f"this lungct serves {PREPROCESSING_ID!r}; retrain or install the matching lungct"
        )
    card.preprocess_params  # noqa: B018 - validates the parameters
    if sorted(card.labels) != sorted(LABELS):
        raise ArtifactError(f"model labels {card.labels} are not the four lungct classes {list(LABELS)}")
    if verify:
        model_path = directory / card.model_file
        if not model_path.is_file():
            raise ArtifactError(f"model file {model_path} named in {MODEL_CARD} is missing")
        for name, expected in ((card.model_file, card.sha256), (card.head_file, card.head_sha256)):
            if not name or not expected:
                continue
            path = directory / name
            actual = file_sha256(path) if path.is_file() else "missing"
            if actual != expected:
                raise ArtifactError(
                    f"{path} has sha256 {actual}, {MODEL_CARD} says {expected}: "
                    "the artifact was altered or corrupted; publish it again"
                )
    return card
