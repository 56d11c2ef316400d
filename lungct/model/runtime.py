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


CGROUP_V2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_CPU_DIR = Path("/sys/fs/cgroup/cpu")


def cgroup_cpu_quota(cpu_max: Path = CGROUP_V2_CPU_MAX, v1_dir: Path = CGROUP_V1_CPU_DIR) -> float | None:
    """CPUs allowed by the cgroup quota (v2 ``cpu.max``, else v1 ``cpu.cfs_quota_us``), None if unlimited."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return None if quota == "max" else float(quota) / float(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = float((v1_dir / "cpu.cfs_quota_us").read_text().strip())
        period_us = float((v1_dir / "cpu.cfs_period_us").read_text().strip())
        return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def available_cpus(cpu_max: Path = CGROUP_V2_CPU_MAX, v1_dir: Path = CGROUP_V1_CPU_DIR) -> int:
    """CPUs this process may really use: the smaller of the cgroup quota (Lambda, containers) and affinity."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cpu_max, v1_dir)
    if quota is not None:
        cpus = min(cpus, int(quota))  # a fractional quota rounds down: 1.5 CPUs run 1 busy thread well
    return max(1, cpus)


class Classifier:
    """A loaded serving artifact.

    The interpreter is fixed at batch 1 and its tensors are allocated once: ``predict`` only copies
    each image in, invokes, and reads the outputs (a signature runner resizes and re-allocates on
    every call). Quantized int8/uint8 input or output tensors are (de)quantized here, so float32
    goes in and out whatever form the artifact holds.
    """

    def __init__(self, directory: Path, *, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.directory = Path(directory)
        self.card: ModelCard = load_card(self.directory, verify=True)
        self.params = self.card.preprocess_params
        self._interpreter = Interpreter(
            model_path=str(self.directory / self.card.model_file),
            num_threads=num_threads or available_cpus(),
        )
        runner = self._interpreter.get_signature_runner()
        (self._input,) = runner.get_input_details().values()
        by_name = runner.get_output_details()
        self._outputs = {key: by_name[name] for key, name in self.card.outputs.items() if name in by_name}
        del runner  # it holds the interpreter's internals; resizing refuses while it lives
        size = self.card.input_size
        self._interpreter.resize_tensor_input(self._input["index"], [1, size, size, 3], strict=False)
        self._interpreter.allocate_tensors()
        self._lock = threading.Lock()  # an interpreter is not thread-safe

    @property
    def input_size(self) -> int:
        return self.card.input_size

    def predict(self, batch: np.ndarray) -> list[Prediction]:
        """Classify a ``(n, size, size, 3)`` float32 batch from :func:`lungct.imaging.preprocess`."""
        results: list[Prediction] = []
        with self._lock:
            for tensor in batch:
                self._interpreter.set_tensor(self._input["index"], _quantize(tensor[None, ...], self._input))
                self._interpreter.invoke()
                probs = self._read("probabilities").astype(np.float64)
                features = self._read("features") if "features" in self._outputs else None
                results.append(self._prediction(probs, features))
        return results

    def _read(self, key: str) -> np.ndarray:
        detail = self._outputs[key]
        return _dequantize(self._interpreter.get_tensor(detail["index"])[0], detail)

    def _prediction(self, probs: np.ndarray, features: np.ndarray | None) -> Prediction:
        probs = probs / probs.sum() if probs.sum() > 0 else probs
        best = int(np.argmax(probs))
        return Prediction(
            label=self.card.labels[best],
            confidence=float(probs[best]),
            probabilities={label: float(p) for label, p in zip(self.card.labels, probs)},
            features=features,
        )


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if dtype == np.float32:
        return x.astype(np.float32, copy=False)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)


def _dequantize(x: np.ndarray, detail: dict) -> np.ndarray:
    """Float32 out; ``get_tensor`` already returned a copy, so the buffer may be kept."""
    if detail["dtype"] == np.float32:
        return x
    scale, zero_point = detail["quantization"]
    return (x.astype(np.float32) - zero_point) * scale
