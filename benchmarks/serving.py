"""Serving benchmark: one trained VGG16, every way of running it, each row in its own process.

Rows: load-per-request Keras, Keras ``predict`` (loaded once), TF SavedModel, and the lungct
serving runtime (:class:`lungct.model.Classifier`) on LiteRT fp32, dynamic-range int8 and full
int8. Per row: images/s and per-image latency (sequential single-image requests, the Lambda's
pattern), process start to first result (import, load, decode + preprocess + predict one PNG),
peak RSS of the row's process, and top-1 agreement with the Keras fp32 model on real CT images
the int8 model was not calibrated on (with the largest probability difference).

It also runs the export's quantization ladder on the same model and reports which form it
publishes and why. Not part of ``make test``.

    python benchmarks/serving.py --model out/scratch/serving.keras --json out/bench/serving.json
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

ROWS = ("keras-load-per-request", "keras-predict", "tf-savedmodel", "litert-fp32", "litert-dynamic", "litert-int8")
LITERT_FORMS = {"litert-fp32": "fp32", "litert-dynamic": "dynamic", "litert-int8": "int8"}
from benchmarks.paths import SHARED_DATA as DATA  # noqa: E402


# ---------------------------------------------------------------- preparation (parent, TensorFlow)

def image_sets(data: Path, calibration_count: int) -> tuple[list[Path], list[Path]]:
    """Calibration: training images spread over the classes; agreement: valid images not among them."""
    from training_job.dataset import scan

    samples = scan(data)
    train = [s.path for s in samples if s.split == "train"]
    valid = [s.path for s in samples if s.split != "train"]
    pick = np.linspace(0, len(train) - 1, min(calibration_count, len(train))).round().astype(int)
    calibration = [train[i] for i in sorted(set(pick.tolist()))]
    seen = {hashlib.sha256(p.read_bytes()).hexdigest() for p in calibration}
    agreement = [p for p in valid if hashlib.sha256(p.read_bytes()).hexdigest() not in seen]
    return calibration, agreement


def tensors(paths: list[Path], size: int) -> np.ndarray:
    from lungct.imaging import PreprocessParams, preprocess

    params = PreprocessParams(size=size)
    return np.stack([preprocess(p.read_bytes(), params) for p in paths])


def prepare(args: argparse.Namespace, work: Path) -> dict:
    """Convert every form once (cached in ``work``) and run the export's ladder; returns its record."""
    import keras

    from lungct.imaging import PreprocessParams
    from lungct.labels import LABELS
    from lungct.model.artifact import ModelCard, file_sha256, write_card
    from lungct.imaging import PREPROCESSING_ID
    from training_job import quantize
    from training_job.export import OUTPUTS, export_artifact

    model = keras.saving.load_model(args.model, compile=False)
    size = int(model.inputs[0].shape[1])
    calibration, agreement = image_sets(args.data, args.calibration)
    x_cal, x_agree = tensors(calibration, size), tensors(agreement, size)
    np.save(work / "agreement.npy", x_agree)
    (work / "first.png").write_bytes(agreement[0].read_bytes())

    forms_dir = work / "forms"
    forms_dir.mkdir(exist_ok=True)
    real_convert = quantize.convert

    def caching_convert(saved: Path, form: str, cal: np.ndarray | None) -> bytes:
        cached = forms_dir / f"{form}.tflite"
        if not cached.exists():
            t0 = time.perf_counter()
            cached.write_bytes(real_convert(saved, form, cal))
            print(f"  converted {form} in {time.perf_counter() - t0:.0f}s", flush=True)
        return cached.read_bytes()

    quantize.convert = caching_convert
    try:
        card = export_artifact(model, work / "published", name="lungct-vgg16", version="bench", labels=list(LABELS),
                               params=PreprocessParams(size=size), parity_images=x_agree, calibration_images=x_cal,
                               notes="benchmarks/serving.py")
        for form in ("int8", "dynamic", "fp32"):  # the ladder stops at the first that passes
            if not (forms_dir / f"{form}.tflite").exists():
                with __import__("tempfile").TemporaryDirectory() as tmp:
                    caching_convert(quantize.export_saved_model(model, Path(tmp) / "sm"), form, x_cal)
    finally:
        quantize.convert = real_convert
    if not (work / "saved_model").exists():
        model.export(str(work / "saved_model"), format="tf_saved_model", verbose=False)
    for row, form in LITERT_FORMS.items():
        folder = work / row
        folder.mkdir(exist_ok=True)
        (folder / "model.tflite").write_bytes((forms_dir / f"{form}.tflite").read_bytes())
        write_card(folder, ModelCard(
            name="lungct-vgg16", version="bench", labels=list(LABELS), input_size=size,
            preprocessing_id=PREPROCESSING_ID, preprocessing_params=PreprocessParams(size=size).to_dict(),
            model_file="model.tflite", sha256=file_sha256(folder / "model.tflite"), quantization=form,
            outputs=dict(OUTPUTS)))
    return {"published": card.quantization, "parity": card.parity, "calibration_images": len(calibration),
            "agreement_images": len(agreement), "size": size}


def random_initial_model(path: Path, size: int = 224) -> Path:
    """Without a trained model (benchmarks/train_scratch.py), time a random-initial VGG16: same cost, no signal."""
    if not path.exists():
        import keras

        from training_job.model import build_classifier

        print(f"no trained model given: using a random-initial VGG16 at {size}px ({path})", flush=True)
        keras.utils.set_random_seed(0)
        build_classifier(image_size=size, weights=None).serving_model.save(path)
    return path


# ---------------------------------------------------------------- one row (child process)

def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_row(row: str, work: Path, model_path: Path, spawned_at: float, repeats: int) -> dict:
    """Measure one row in this process; writes the row's probabilities to ``work/<row>.npy``."""
    first_png = (work / "first.png").read_bytes()
    images = np.load(work / "agreement.npy")
    latencies: list[float] = []
    if row in LITERT_FORMS:
        from lungct.imaging import preprocess
        from lungct.model.runtime import Classifier

        clf = Classifier(work / row)
        clf.predict(preprocess(first_png, clf.params)[None])
        first = time.time() - spawned_at
        probs = []
        for x in images:
            t0 = time.perf_counter()
            (pred,) = clf.predict(x[None])
            latencies.append(time.perf_counter() - t0)
            probs.append([pred.probabilities[label] for label in clf.card.labels])
        return _row(row, latencies, first, probs, work)

    import keras  # noqa: F401 - Keras/TensorFlow rows
    from lungct.imaging import PreprocessParams, preprocess

    size = images.shape[1]
    if row == "keras-load-per-request":
        first = None
        for i in range(repeats):  # a fresh load per request: the pattern a long-lived interpreter avoids
            t0 = time.perf_counter()
            model = keras.saving.load_model(model_path, compile=False)
            model.predict(preprocess(first_png, PreprocessParams(size=size))[None], verbose=0)
            latencies.append(time.perf_counter() - t0)
            first = first or time.time() - spawned_at
            del model
        return _row(row, latencies, first, None, work)
    if row == "keras-predict":
        model = keras.saving.load_model(model_path, compile=False)
        call = lambda x: model.predict(x, verbose=0)["probabilities"]  # noqa: E731
    elif row == "tf-savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(work / "saved_model"))  # keep it alive: it owns the variables
        call = lambda x: loaded.serve(tf.constant(x))["probabilities"].numpy()  # noqa: E731
    else:
        raise SystemExit(f"unknown row {row!r}; rows: {', '.join(ROWS)}")
    call(preprocess(first_png, PreprocessParams(size=size))[None])
    first = time.time() - spawned_at
    probs = []
    for x in images:
        t0 = time.perf_counter()
        probs.append(np.asarray(call(x[None]))[0])
        latencies.append(time.perf_counter() - t0)
    return _row(row, latencies, first, probs, work)


def _row(name: str, latencies: list[float], first: float | None, probs, work: Path) -> dict:
    if probs is not None:
        np.save(work / f"{name}.npy", np.asarray(probs, dtype=np.float64))
    ms = np.asarray(latencies) * 1000.0
    return {"name": name, "images": len(latencies), "images_per_s": round(len(ms) / (ms.sum() / 1000.0), 2),
            "ms_p50": round(float(np.percentile(ms, 50)), 1), "ms_p95": round(float(np.percentile(ms, 95)), 1),
            "first_result_s": round(first, 2) if first is not None else None, "peak_rss_mb": round(peak_rss_mb(), 1)}


# ---------------------------------------------------------------- table

def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "out/scratch/serving.keras", help="Keras serving model (.keras)")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--work", type=Path, default=ROOT / "out/bench")
    ap.add_argument("--json", type=Path, default=None, help="write the rows here")
    ap.add_argument("--rows", default=",".join(ROWS))
    ap.add_argument("--calibration", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3, help="requests for the load-per-request row")
    ap.add_argument("--row", help=argparse.SUPPRESS)
    ap.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--spawned-at", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.row:  # child
        print(json.dumps(run_row(args.row, args.work, args.model, args.spawned_at, args.repeats)))
        return 0

    args.work.mkdir(parents=True, exist_ok=True)
    if not args.model.exists():
        args.model = args.work / "random-initial.keras"
        if not args.model.exists():
            subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                            f"from benchmarks.serving import random_initial_model as m; m(__import__('pathlib').Path({str(args.model)!r}))"],
                           check=True)
    ladder_file = args.work / "ladder.json"
    if args.prepare:  # child: TensorFlow lives here, never in the parent (see below)
        ladder = prepare(args, args.work)
        ladder["model"] = str(args.model)
        ladder_file.write_text(json.dumps(ladder, indent=2) + "\n")
        return 0
    if not ladder_file.exists() or json.loads(ladder_file.read_text()).get("model") != str(args.model):
        # In its own process: a child's ru_maxrss starts at its parent's peak (fork, then exec keeps the
        # high-water mark), so the parent must stay small for the rows' peak RSS to mean anything.
        print(f"preparing forms and running the export ladder (load {load_average()})", flush=True)
        subprocess.run([sys.executable, __file__, "--prepare", "--model", str(args.model), "--work", str(args.work),
                        "--data", str(args.data), "--calibration", str(args.calibration)], check=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    ladder = json.loads(ladder_file.read_text())

    rows = []
    for name in args.rows.split(","):
        load = load_average()
        cmd = [sys.executable, __file__, "--row", name, "--work", str(args.work), "--model", str(args.model),
               "--repeats", str(args.repeats), "--spawned-at", repr(time.time())]
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if proc.returncode:
            print(proc.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"row {name} failed")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["load_avg_before"] = load
        rows.append(row)
        print(f"  {name}: {row['images_per_s']} images/s (load {load})", flush=True)

    reference = np.load(args.work / "keras-predict.npy") if (args.work / "keras-predict.npy").exists() else None
    keras_row = next((r for r in rows if r["name"] == "keras-predict"), None)
    lpr_row = next((r for r in rows if r["name"] == "keras-load-per-request"), None)
    for row in rows:
        probs_file = args.work / f"{row['name']}.npy"
        if reference is not None and probs_file.exists():
            probs = np.load(probs_file)
            row["agreement"] = round(float(np.mean(probs.argmax(1) == reference.argmax(1))), 4)
            row["max_abs_prob_diff"] = round(float(np.abs(probs - reference).max()), 4)
        else:
            row["agreement"], row["max_abs_prob_diff"] = None, None
        if keras_row:
            row["x_keras_predict"] = round(row["images_per_s"] / keras_row["images_per_s"], 1)
        if lpr_row:
            row["x_load_per_request"] = round(row["images_per_s"] / lpr_row["images_per_s"], 1)

    header = f"{'row':<24}{'img/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'first s':>9}{'RSS MB':>9}{'agree':>8}{'maxΔp':>8}{'xKeras':>8}{'xLPR':>7}"
    print(header)
    for r in rows:
        cells = [r["images_per_s"], r["ms_p50"], r["ms_p95"], r["first_result_s"], r["peak_rss_mb"], r["agreement"],
                 r["max_abs_prob_diff"], r.get("x_keras_predict"), r.get("x_load_per_request")]
        widths = [8, 9, 9, 9, 9, 8, 8, 8, 7]
        print(f"{r['name']:<24}" + "".join(f"{'-' if c is None else c:>{w}}" for c, w in zip(cells, widths)))
    print(f"ladder published: {ladder['published']} ({ladder['agreement_images']} agreement images not calibrated on, "
          f"{ladder['calibration_images']} calibration images, {ladder['size']}px)")
    for form, res in ladder["parity"]["forms"].items():
        print(f"  {form}: {res['reason']}; max prob diff {res.get('max_abs_prob_diff')}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "ladder": ladder, "load_avg_end": load_average(),
                                         "cpus": os.cpu_count()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
