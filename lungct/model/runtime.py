"""LiteRT runtime for the serving artifact. No TensorFlow on this path.

One :class:`Classifier` per container: the interpreter is built once and reused across
invocations. ``predict`` returns probabilities per label (and the last conv features when the
artifact exports them, for class activation maps).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lungct.model.artifact import ModelCard, load_card


@dataclass
class Prediction:
    label: str
    confidence: float
    probabilities: dict[str, float]
    features: np.ndarray | None = None


def available_cpus() -> int:
    """CPUs this process may really use: the cgroup quota (Lambda, containers), then affinity."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            return max(1, int(float(quota) / float(period)))
    except (OSError, ValueError):
        pass
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


class Classifier:
    """A loaded serving artifact."""

    def __init__(self, directory: Path, *, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.directory = Path(directory)
        self.card: ModelCard = load_card(self.directory, verify=True)
        self.params = self.card.preprocess_params
        self._interpreter = Interpreter(
            model_path=str(self.directory / self.card.model_file),
            num_threads=num_threads or available_cpus(),
        )
        self._runner = self._interpreter.get_signature_runner()
        self._input_name = next(iter(self._runner.get_input_details()))
        self._lock = threading.Lock()  # an interpreter is not thread-safe

    @property
    def input_size(self) -> int:
        return self.card.input_size

    def predict(self, batch: np.ndarray) -> list[Prediction]:
        """Classify a ``(n, size, size, 3)`` float32 batch from :func:`lungct.imaging.preprocess`."""
        outputs = self.card.outputs
        results: list[Prediction] = []
        with self._lock:
            for tensor in batch:
                out = self._runner(**{self._input_name: tensor[None, ...].astype(np.float32, copy=False)})
                probs = np.asarray(out[outputs["probabilities"]][0], dtype=np.float64)
                features = out[outputs["features"]][0].copy() if "features" in outputs else None
                results.append(self._prediction(probs, features))
        return results

    def _prediction(self, probs: np.ndarray, features: np.ndarray | None) -> Prediction:
        probs = probs / probs.sum() if probs.sum() > 0 else probs
        best = int(np.argmax(probs))
        return Prediction(
            label=self.card.labels[best],
            confidence=float(probs[best]),
            probabilities={label: float(p) for label, p in zip(self.card.labels, probs)},
            features=features,
        )
