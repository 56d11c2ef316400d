"""The whole story on one machine: embedded AWS, a quick demo model, three studies, results.

The demo model is trained from random initial weights on a few dozen slices in seconds: it shows
the pipeline, not clinical performance.
"""
from __future__ import annotations

import contextlib
import io
import logging
import time
from pathlib import Path
from typing import Callable

from lungct.aws import lungct_home

DEMO_NOTE = "DEMO MODEL: random initial weights, a few dozen slices; shows the pipeline only, not for clinical use"


def default_examples() -> Path:
    here = Path(__file__).resolve().parents[1] / "examples"
    return here if here.is_dir() else Path("examples").resolve()


def run_demo(examples: Path | None = None, *, epochs: int = 20, image_size: int = 64,
             say: Callable[[str], None] = print) -> dict[str, dict]:
    """Returns each study's result document, after printing it."""
    from lungct.cli.studies import format_table, submit
    from lungct.cli.local import quiet_server_logs
    from lungct.local import EmbeddedAws, Worker
    from lungct.model.publish import publish
    from lungct.query import study_document
    from lungct.results import ResultStore
    from training_job.train import TrainConfig, train

    examples = Path(examples or default_examples())
    started = time.monotonic()
    step = lambda n, text: say(f"[{n}/6 {time.monotonic() - started:5.1f}s] {text}")  # noqa: E731
    quiet_server_logs()
    logging.getLogger("lungct").setLevel(logging.WARNING)  # the demo narrates; JSON logs are for Lambda
    step(1, "starting the embedded AWS (moto server on 127.0.0.1)")
    with EmbeddedAws() as aws:
        ctx = aws.context()
        step(2, f"training a demo model on {examples / 'train'} ({DEMO_NOTE})")
        artifact = lungct_home() / "demo-model"
        train(examples / "train", artifact,
              TrainConfig(image_size=image_size, epochs=epochs, weights=None, batch_size=16, notes=DEMO_NOTE),
              progress=lambda line: say(f"        {line}"))
        step(3, "publishing the demo model")
        uri = publish(ctx.client("s3"), ctx.client("ssm"), artifact,
                      bucket=ctx.names.artifacts_bucket, parameter=ctx.names.model_parameter)
        say(f"        {uri}")
        studies = sorted(p for p in (examples / "studies").iterdir() if p.is_dir())
        step(4, f"submitting {len(studies)} studies")
        for study in studies:
            keys = submit(ctx, study.name, [study])
            say(f"        {study.name}: {len(keys)} file(s)")
        step(5, "running the worker (the real Lambda handler) until the queue is empty")
        with contextlib.redirect_stdout(io.StringIO()):  # the handler's per-batch metric lines are for CloudWatch
            stats = Worker(ctx).run(until_empty=True, idle_s=1.5, max_seconds=600)
        say(f"        {stats.received} messages in {stats.batches} batches, {stats.failed} retried")
        step(6, "results")
        store = ResultStore(ctx.client("dynamodb"), ctx.names.results_table)
        documents = {}
        for study in studies:
            documents[study.name] = study_document(store, study.name)
            say("")
            say(format_table(documents[study.name]))
    say(f"\ndemo finished in {time.monotonic() - started:.1f}s; the embedded AWS is shut down")
    return documents
