"""Where does full-int8 lose the signal? LiteRT's quantization debugger, per layer.

For each quantized op: RMSE between its float and int8 outputs over the op's quantization scale
(~0.29 is rounding alone; far above means the int8 grid can't hold that tensor). Then the
``int8-mixed`` form keeps the ops above ``--threshold`` in float and reports its agreement with the
Keras model on images it was not calibrated on. Not part of ``make test``.

    python benchmarks/quant_debug.py --model out/scratch/serving.keras [--json out/bench/quant_debug.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.serving import DATA, image_sets, tensors  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "out/scratch/serving.keras")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--calibration", type=int, default=200)
    ap.add_argument("--debug-images", type=int, default=16)
    ap.add_argument("--threshold", type=float, default=0.7)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import keras

    from training_job import quantize

    model = keras.saving.load_model(args.model, compile=False)
    size = int(model.inputs[0].shape[1])
    calibration, agreement = image_sets(args.data, args.calibration)
    x_cal, x_agree = tensors(calibration, size), tensors(agreement, size)
    reference = np.asarray(model.predict(x_agree, verbose=0)["probabilities"], dtype=np.float64)
    with tempfile.TemporaryDirectory() as tmp:
        saved = quantize.export_saved_model(model, Path(tmp) / "sm")
        t0 = time.perf_counter()
        rows = quantize.layer_errors(saved, x_cal, debug_images=args.debug_images)
        print(f"debugger: {len(rows)} quantized ops in {time.perf_counter() - t0:.0f}s")
        print(f"{'op':<22}{'rmse/scale':>11}{'rmse':>10}{'scale':>10}  tensor")
        for r in rows:
            print(f"{r['op']:<22}{r['rmse_over_scale']:>11.3f}{r['rmse']:>10.4f}{r['scale']:>10.4f}  {r['tensor'][:70]}")
        result: dict = {"layers": rows, "threshold": args.threshold}
        t0 = time.perf_counter()
        mixed, float_ops = quantize.convert_mixed(saved, x_cal, threshold=args.threshold, debug_images=args.debug_images)
        probs = quantize.litert_probabilities(mixed, x_agree)
        check = quantize.agreement(reference, probs)
        print(f"int8-mixed ({len(float_ops)} ops kept float, {time.perf_counter() - t0:.0f}s): "
              f"agreement {check['top1_agreement']:.1%} on {check['images']} images, max prob diff {check['max_abs_prob_diff']:.4f}")
        full = quantize.litert_probabilities(quantize.convert(saved, quantize.INT8, x_cal), x_agree)
        full_check = quantize.agreement(reference, full)
        print(f"full int8: agreement {full_check['top1_agreement']:.1%}, max prob diff {full_check['max_abs_prob_diff']:.4f}")
        result.update(float_ops=float_ops, mixed=check, full_int8=full_check, mixed_bytes=len(mixed))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
