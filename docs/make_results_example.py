"""Reproduce docs/results.md's example: a mixed study through the embedded AWS, with heatmaps.

    LUNGCT_HOME=$(mktemp -d) PYTHONPATH=. python docs/make_results_example.py OUT_DIR

Trains the demo-style model (random initial weights, examples/train, 20 epochs; 128 px
rather than the demo's 64 px, so that the activation map has 4 x 4 cells rather than 2 x 2), publishes
it, submits a study of three real CT slices, a colour photo, a corrupt file and a DICOM CT slice,
runs the worker (the real handler) and writes the CLI output and heatmaps to OUT_DIR.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

STUDY = "demo-mixed-1"


def colour_photo(size: int = 160) -> np.ndarray:
    rng = np.random.default_rng(2)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([200 * (1 - yy) + 40 * xx, 120 + 100 * yy * (1 - xx), 230 * (1 - yy) ** 2 + 20], axis=-1)
    return np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)


def main(out: Path) -> None:
    os.environ["LUNGCT_HEATMAPS"] = "1"
    from pydicom.data import get_testdata_file

    from lungct.cli import main as lungct
    from lungct.cli.local import quiet_server_logs
    from lungct.demo import DEMO_NOTE, default_examples
    from lungct.local import EmbeddedAws, Worker
    from lungct.model.publish import publish
    from training_job.train import TrainConfig, train

    quiet_server_logs()
    logging.getLogger("lungct").setLevel(logging.WARNING)
    examples = default_examples()
    out.mkdir(parents=True, exist_ok=True)
    study = out / "study"
    study.mkdir(exist_ok=True)
    for name in ("000111 (2).png", "000117 (4).png", "004162_01_01_150.png"):
        shutil.copy(examples / "studies" / "demo-study-1" / name, study / name)
    Image.fromarray(colour_photo()).save(study / "holiday-photo.jpg", quality=90)
    shutil.copy(examples / "studies" / "demo-study-3" / "scan-export-report.png", study / "scan-export-report.png")
    shutil.copy(get_testdata_file("CT_small.dcm"), study / "ct-slice.dcm")
    with EmbeddedAws() as aws:
        ctx = aws.context()
        artifact = out / "demo-model"
        train(examples / "train", artifact, TrainConfig(image_size=128, epochs=20, weights=None, batch_size=16,
                                                        notes=DEMO_NOTE), progress=lambda line: None)
        publish(ctx.client("s3"), ctx.client("ssm"), artifact,
                bucket=ctx.names.artifacts_bucket, parameter=ctx.names.model_parameter)
        lungct(["submit", str(study), "--study", STUDY])
        with contextlib.redirect_stdout(io.StringIO()) as emf:
            Worker(ctx).run(until_empty=True, idle_s=1.0, max_seconds=300)
        (out / "emf.jsonl").write_text(emf.getvalue())
        for name, argv in (("results.txt", ["results", STUDY]),
                           ("results.json", ["results", STUDY, "--json", "--heatmaps", str(out / "heatmaps")]),
                           ("drift.txt", ["drift", "--since", "1h"])):
            with contextlib.redirect_stdout(io.StringIO()) as text:
                lungct(argv)
            (out / name).write_text(text.getvalue())


if __name__ == "__main__":
    main(Path(sys.argv[1]))
