"""The serving model: artifact format (``model.json`` + model file), runtime, and publishing."""
from __future__ import annotations

from lungct.model.artifact import MODEL_CARD, ModelCard, file_sha256, load_card, write_card
from lungct.model.runtime import Classifier, Prediction

__all__ = ["MODEL_CARD", "Classifier", "ModelCard", "Prediction", "file_sha256", "load_card", "write_card"]
