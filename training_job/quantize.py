"""The quantization ladder: try the fast LiteRT forms in order, publish the fastest that agrees.

Forms, fastest first:

- ``int8``: full integer (weights and activations int8), calibrated on training images through a
  representative dataset; float32 input and output, so serving feeds the same tensor as ever.
- ``int8-mixed``: full integer except the ops the quantization debugger finds losing the signal
  (largest RMSE over scale against the float model), which stay float. Tried only when asked for
  (``selective=True``) because the debugger run costs a float and a quantized pass per calibration
  image per layer.
- ``dynamic``: dynamic-range (int8 weights, float activations).
- ``fp32``: the float model.

Each form is judged on the parity images (images it was not calibrated on) against the Keras
float model: top-1 agreement and the largest probability difference. The first form whose
agreement reaches ``min_agreement`` is published; every form tried is recorded with why it
passed or not, so ``model.json`` says which form serves and why the faster ones don't.
"""
from __future__ import annotations

import csv
import hashlib
import io
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from lungct.errors import ArtifactError

INT8 = "int8"
INT8_MIXED = "int8-mixed"
DYNAMIC = "dynamic"
FP32 = "fp32"
LADDER = (INT8, DYNAMIC, FP32)
FORMS = (INT8, INT8_MIXED, DYNAMIC, FP32)
NEEDS_CALIBRATION = frozenset({INT8, INT8_MIXED})


class ParityError(ArtifactError):
    """No exported form agrees with the Keras model closely enough to serve."""


@dataclass
class FormResult:
    form: str
    passed: bool
    reason: str
    top1_agreement: float | None = None
    max_abs_prob_diff: float | None = None
    images: int = 0
    model_bytes: int = 0
    convert_s: float = 0.0
    float_ops: list[str] | None = None  # int8-mixed: the ops kept in float

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


# A converter turns (SavedModel folder, form, calibration images) into .tflite bytes.
Converter = Callable[[Path, str, "np.ndarray | None"], bytes]


def calibration_subset(images: np.ndarray, count: int = 200) -> np.ndarray:
    """Up to ``count`` images spread evenly over ``images`` (training sets are often sorted by class)."""
    if len(images) <= count:
        return images
    return images[np.linspace(0, len(images) - 1, count).round().astype(int)]


def without_calibrated(parity_images: np.ndarray, calibration: np.ndarray | None) -> tuple[np.ndarray, int]:
    """Drop parity images identical to a calibration image (datasets hold duplicates across splits)."""
    if calibration is None or not len(calibration):
        return parity_images, 0
    seen = {hashlib.sha256(np.ascontiguousarray(x).tobytes()).digest() for x in calibration}
    keep = [i for i, x in enumerate(parity_images) if hashlib.sha256(np.ascontiguousarray(x).tobytes()).digest() not in seen]
    return parity_images[keep], len(parity_images) - len(keep)


def representative_dataset(images: np.ndarray) -> Callable[[], Iterator[list[np.ndarray]]]:
    """Calibration batches of one image each, in the serving input form (float32 0..255)."""
    def gen() -> Iterator[list[np.ndarray]]:
        for image in images:
            yield [np.asarray(image[None, ...], dtype=np.float32)]

    return gen


def _converter(saved_model: Path, form: str, calibration: np.ndarray | None) -> Any:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if form == FP32:
        return converter
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if form in NEEDS_CALIBRATION:
        if calibration is None or not len(calibration):
            raise ValueError(f"form {form!r} needs calibration images; received none")
        converter.representative_dataset = representative_dataset(calibration)
        # Integer kernels inside, float32 at the boundary: serving feeds and reads float as for fp32.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.float32
        converter.inference_output_type = tf.float32
    return converter


def convert(saved_model: Path, form: str, calibration: np.ndarray | None) -> bytes:
    """The .tflite bytes of one form (``int8-mixed`` goes through :func:`convert_mixed`)."""
    if form == INT8_MIXED:
        model, _ = convert_mixed(saved_model, calibration)
        return model
    if form not in (INT8, DYNAMIC, FP32):
        raise ValueError(f"form must be one of {(INT8, INT8_MIXED, DYNAMIC, FP32)}; received form={form!r}")
    return _converter(saved_model, form, calibration).convert()


def layer_errors(saved_model: Path, calibration: np.ndarray, *, debug_images: int = 16) -> list[dict[str, Any]]:
    """Per quantized op: RMSE between float and quantized outputs over the quantization scale.

    Uses LiteRT's quantization debugger (``tf.lite.experimental.QuantizationDebugger``). An op whose
    ``rmse/scale`` is far above ~0.3 (the error of rounding alone) loses the signal there.
    """
    import tensorflow as tf

    converter = _converter(saved_model, INT8, calibration)
    converter.experimental_new_quantizer = True
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative_dataset(calibration[:debug_images])
    )
    debugger.run()
    buf = io.StringIO()
    debugger.layer_statistics_dump(buf)
    buf.seek(0)
    rows = []
    for raw in csv.DictReader(buf):
        rmse = float(np.sqrt(float(raw["mean_squared_error"])))
        scale = float(raw["scale"])
        rows.append({"op": raw["op_name"], "tensor": raw["tensor_name"], "scale": scale, "rmse": rmse,
                     "rmse_over_scale": rmse / scale if scale else float("inf"),
                     "max_abs_error": float(raw["max_abs_error"])})
    return rows


def convert_mixed(
    saved_model: Path, calibration: np.ndarray | None, *, threshold: float = 0.7, debug_images: int = 16
) -> tuple[bytes, list[str]]:
    """Full int8 except the ops whose ``rmse/scale`` exceeds ``threshold``: those stay float."""
    import tensorflow as tf

    if calibration is None or not len(calibration):
        raise ValueError("form 'int8-mixed' needs calibration images; received none")
    rows = layer_errors(saved_model, calibration, debug_images=debug_images)
    bad = [r["tensor"] for r in rows if r["rmse_over_scale"] > threshold]
    converter = _converter(saved_model, INT8, calibration)
    converter.experimental_new_quantizer = True
    # Float fallback needs builtin float kernels next to the int8 ones.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=bad)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative_dataset(calibration[:debug_images]), debug_options=options
    )
    return debugger.get_nondebug_quantized_model(), bad


def litert_probabilities(model: bytes | Path, images: np.ndarray, output: str = "probabilities") -> np.ndarray:
    """Run a .tflite model image by image through its signature, float32 in and out."""
    from ai_edge_litert.interpreter import Interpreter

    kwargs = {"model_content": model} if isinstance(model, bytes) else {"model_path": str(model)}
    runner = Interpreter(**kwargs).get_signature_runner()
    name = next(iter(runner.get_input_details()))
    return np.concatenate([np.asarray(runner(**{name: images[i : i + 1].astype(np.float32)})[output], dtype=np.float64)
                           for i in range(len(images))])


def agreement(reference: np.ndarray, candidate: np.ndarray) -> dict[str, float]:
    """Top-1 agreement and the largest absolute probability difference."""
    return {
        "images": int(len(reference)),
        "top1_agreement": float(np.mean(np.argmax(reference, 1) == np.argmax(candidate, 1))),
        "max_abs_prob_diff": float(np.max(np.abs(np.asarray(reference) - np.asarray(candidate)))),
    }


def export_saved_model(serving_model: Any, target: Path) -> Path:
    serving_model.export(str(target), format="tf_saved_model", verbose=False)
    return target


def choose_form(
    serving_model: Any,
    model_path: Path,
    *,
    parity_images: np.ndarray,
    calibration_images: np.ndarray | None,
    min_agreement: float = 0.99,
    forms: tuple[str, ...] = LADDER,
    converter: Converter | None = None,
    progress: Callable[[str], None] = lambda line: None,
) -> tuple[str, dict[str, Any]]:
    """Write the first form that passes parity to ``model_path``; return it and the parity record.

    Raises :class:`ParityError` (writing nothing) when no form passes.
    """
    converter = converter or convert
    parity_images, duplicates = without_calibrated(parity_images, calibration_images)
    if not len(parity_images):
        raise ParityError("every parity image is also a calibration image; give parity images it was not calibrated on")
    reference = np.asarray(serving_model.predict(parity_images, verbose=0)["probabilities"], dtype=np.float64)
    results: list[FormResult] = []
    chosen: tuple[str, bytes] | None = None
    with tempfile.TemporaryDirectory(prefix="lungct-savedmodel-") as tmp:
        saved = export_saved_model(serving_model, Path(tmp) / "saved_model")
        for form in forms:
            if form in NEEDS_CALIBRATION and (calibration_images is None or not len(calibration_images)):
                results.append(FormResult(form, False, "skipped: no calibration images given"))
                continue
            t0 = time.perf_counter()
            try:
                model = converter(saved, form, calibration_images)
                probs = litert_probabilities(model, parity_images)
            except Exception as exc:  # a converter or kernel failure refuses the form, not the export
                results.append(FormResult(form, False, f"conversion or inference failed: {type(exc).__name__}: {exc}"[:300]))
                continue
            check = agreement(reference, probs)
            passed = check["top1_agreement"] >= min_agreement
            reason = (
                f"top-1 agreement {check['top1_agreement']:.1%} on {check['images']} images not calibrated on "
                f"{'>=' if passed else '<'} required {min_agreement:.1%}"
            )
            results.append(FormResult(form, passed, reason, check["top1_agreement"], check["max_abs_prob_diff"],
                                      check["images"], len(model), round(time.perf_counter() - t0, 1)))
            progress(f"parity {form}: {reason}, max prob diff {check['max_abs_prob_diff']:.4f}")
            if passed:
                chosen = (form, model)
                break
    record: dict[str, Any] = {
        "min_agreement": min_agreement,
        "images": int(len(parity_images)),
        "calibration_images": int(len(calibration_images)) if calibration_images is not None else 0,
        "excluded_as_calibrated": duplicates,
        "forms": {r.form: r.to_dict() for r in results},
    }
    if chosen is None:
        raise ParityError(
            "no exported form agrees with Keras closely enough: "
            + "; ".join(f"{r.form}: {r.reason}" for r in results)
            + "; not publishing"
        )
    form, model = chosen
    best = next(r for r in results if r.form == form)
    record.update(published=form, passed=True, top1_agreement=best.top1_agreement,
                  max_abs_prob_diff=best.max_abs_prob_diff)
    Path(model_path).write_bytes(model)
    return form, record
