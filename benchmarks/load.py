"""Load and delivery benchmark: many images, injected faults, duplicate deliveries, two workers.

Starts its own embedded AWS (moto server), publishes a small model, uploads ``--images`` images across
``--studies`` studies (real CT slices from ``--data``, cycling, or ``--synthetic``), re-sends a share of
the S3 event messages as duplicate deliveries, and runs ``--workers`` local workers as separate
processes (each its own Lambda container: the handler keeps its state in a module global), every one
with ``LUNGCT_FAULTS`` set to inject transient S3 and DynamoDB faults. Then it checks that every
uploaded object has exactly one final result, for the version uploaded, and prints the figures:
throughput, results by status, duplicates suppressed, retries, dead-lettered, lost (must be 0).

    python benchmarks/load.py                       # 1,000 real slices, 50 studies, 5 % faults, 5 % duplicates
    python benchmarks/load.py --images 40 --studies 4 --synthetic

The model is a VGG16 at 64 px with random initial weights (trained for one epoch on synthetic slices
and cached under ``.lungct/bench/``), or ``--artifact DIR``: this measures the delivery path, not accuracy.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.paths import SHARED_DATA as DEFAULT_DATA  # noqa: E402
from training_job.dataset import IMAGE_SUFFIXES  # noqa: E402


@dataclass
class LoadConfig:
    images: int = 1000
    studies: int = 50
    fault_rate: float = 0.05
    duplicate_rate: float = 0.05
    workers: int = 2
    synthetic: bool = False
    data: Path = DEFAULT_DATA
    artifact: Path | None = None
    image_size: int = 64
    seed: int = 7
    visibility_timeout_s: int = 15
    max_seconds: float = 1800.0
    fault_ops: tuple[str, ...] = ("s3:GetObject", "dynamodb:PutItem", "dynamodb:BatchGetItem")


@dataclass
class LoadReport:
    images_uploaded: int = 0
    studies: int = 0
    duplicate_messages_sent: int = 0
    results: int = 0
    results_by_status: dict[str, int] = field(default_factory=dict)
    objects_with_one_final_result: int = 0
    wrong_version: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    duplicates_suppressed: int = 0
    faults_injected: int = 0
    client_retries: int = 0
    queue_retries: int = 0
    dead_lettered: int = 0
    lost: int = 0
    seconds: float = 0.0
    throughput_images_per_s: float = 0.0
    messages_received: int = 0
    batches: int = 0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    cpus: int = 0
    fault_spec: str = ""
    source: str = ""

    def lines(self) -> list[str]:
        return [
            f"objects uploaded          {self.images_uploaded} across {self.studies} studies ({self.source})",
            f"duplicate deliveries sent {self.duplicate_messages_sent}",
            f"faults injected           {self.faults_injected}  ({self.fault_spec})",
            f"results                   {self.results}  by status: {self.results_by_status}",
            f"one final result each     {self.objects_with_one_final_result}/{self.images_uploaded}"
            f"  (wrong version: {self.wrong_version})",
            f"handler outcomes          {self.outcomes}",
            f"duplicates suppressed     {self.duplicates_suppressed}",
            f"retries                   {self.client_retries} in the clients (botocore), {self.queue_retries} through the queue",
            f"dead-lettered             {self.dead_lettered}",
            f"lost                      {self.lost}",
            f"time                      {self.seconds:.1f} s for {self.messages_received} messages in {self.batches} batches",
            f"throughput                {self.throughput_images_per_s:.1f} images/s",
            f"machine load (1/5/15 min) before {self.load_before}, after {self.load_after}; {self.cpus} CPUs",
        ]


# -- inputs ---------------------------------------------------------------------------------------
def image_sources(config: LoadConfig) -> list[tuple[str, bytes]]:
    """(file name, bytes) pairs to upload, cycling over the source images."""
    if config.synthetic:
        from tests.helpers import png_bytes, synthetic_slice

        pool = [(f"synthetic-{i:03d}.png", png_bytes(synthetic_slice(i, 256, i % 4))) for i in range(min(64, config.images))]
    else:
        files = sorted(p for p in Path(config.data).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SystemExit(f"no images under {config.data}; pass --data or --synthetic")
        pool = [(p.name, p.read_bytes()) for p in files[: config.images]]
    return [(f"{i:04d}-{pool[i % len(pool)][0]}", pool[i % len(pool)][1]) for i in range(config.images)]


def ensure_model(config: LoadConfig, cache: Path) -> Path:
    """A 64 px VGG16 with random initial weights; trained once, then reused."""
    if config.artifact:
        return Path(config.artifact)
    out = cache / f"model-{config.image_size}"
    if (out / "model.json").is_file():
        return out
    code = (
        "import sys; from pathlib import Path; from tests.helpers import write_dataset;"
        "from training_job.train import TrainConfig, train;"
        "d = write_dataset(Path(sys.argv[1]), per_class=6, size=96);"
        f"train(d, Path(sys.argv[2]), TrainConfig(image_size={config.image_size}, epochs=1, weights=None,"
        " batch_size=8, version='bench'), progress=lambda line: None)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-c", code, tmp, str(out)], check=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "-1"})
    return out


def s3_event_body(bucket: str, key: str, etag: str, size: int) -> str:
    """An ObjectCreated notification in the shape S3 (and moto) sends."""
    return json.dumps({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()), "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": quote_plus(key, safe=""), "size": size, "eTag": etag.strip('"')}},
    }]})


# -- one worker process ----------------------------------------------------------------------------
class _Outcomes(logging.Handler):
    """Sums the handler's 'batch done' outcome counts."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "batch done":
            self.counts.update(getattr(record, "outcomes", {}) or {})


def worker_process(endpoint: str, out: Path, max_seconds: float) -> int:
    from lungct.aws import AwsContext
    from lungct.local import Worker

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    outcomes = _Outcomes()
    logger = logging.getLogger("lungct")
    from lungct.logs import get_logger

    get_logger("lungct.bench")
    for handler in list(logger.handlers):  # keep the JSON log quiet: warnings only
        handler.setLevel(logging.WARNING)
    logger.addHandler(outcomes)
    worker = Worker(AwsContext.for_env("local", endpoint_url=endpoint))
    stats = worker.run(until_empty=True, idle_s=3.0, max_seconds=max_seconds)
    out.write_text(json.dumps({
        "batches": stats.batches, "received": stats.received, "deleted": stats.deleted, "failed": stats.failed,
        "seconds": stats.seconds, "outcomes": dict(outcomes.counts),
        "faults": worker.faults.stats.to_json() if worker.faults else {},
    }))
    return 0


# -- the run -----------------------------------------------------------------------------------------
def run(config: LoadConfig, *, work_dir: Path | None = None, progress=print) -> LoadReport:
    from lungct.local import EmbeddedAws
    from lungct.model.publish import publish

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    work = Path(work_dir or tempfile.mkdtemp(prefix="lungct-load-"))
    work.mkdir(parents=True, exist_ok=True)
    report = LoadReport(cpus=os.cpu_count() or 0)
    artifact = ensure_model(config, Path(os.environ.get("LUNGCT_HOME", ROOT / ".lungct")) / "bench")
    sources = image_sources(config)
    report.source = "synthetic 256 px PNG" if config.synthetic else f"real CT slices from {config.data}"
    rng = random.Random(config.seed)
    fault_spec = ",".join(f"{op}:{config.fault_rate}" for op in config.fault_ops) if config.fault_rate > 0 else ""
    report.fault_spec = fault_spec or "none"
    aws = EmbeddedAws(state_file=work / "local.json", visibility_timeout_s=config.visibility_timeout_s).start()
    try:
        ctx = aws.context()
        s3, sqs = ctx.client("s3"), ctx.client("sqs")
        publish(s3, ctx.client("ssm"), artifact, bucket=ctx.names.artifacts_bucket, parameter=ctx.names.model_parameter)
        bucket = ctx.names.images_bucket
        run_id = f"load{int(time.time()) % 100000:05d}"
        studies = [f"{run_id}-s{n:03d}" for n in range(config.studies)]

        def upload(i: int) -> tuple[str, str, str, int]:
            name, data = sources[i]
            study, key = studies[i % len(studies)], f"incoming/{studies[i % len(studies)]}/{name}"
            etag = s3.put_object(Bucket=bucket, Key=key, Body=data)["ETag"].strip('"')
            return study, name, etag, len(data)

        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            uploaded = list(pool.map(upload, range(len(sources))))
        report.images_uploaded, report.studies = len(uploaded), len(studies)
        progress(f"uploaded {len(uploaded)} images in {time.perf_counter() - t0:.1f} s")
        dupes = rng.sample(uploaded, k=round(config.duplicate_rate * len(uploaded)))
        for start in range(0, len(dupes), 10):
            sqs.send_message_batch(QueueUrl=aws.urls["queue_url"], Entries=[
                {"Id": str(j), "MessageBody": s3_event_body(bucket, f"incoming/{s}/{n}", e, size)}
                for j, (s, n, e, size) in enumerate(dupes[start : start + 10])])
        report.duplicate_messages_sent = len(dupes)

        report.load_before = tuple(round(x, 2) for x in os.getloadavg())
        procs = []
        t0 = time.perf_counter()
        for w in range(config.workers):
            tmp = work / f"worker{w}"
            tmp.mkdir(exist_ok=True)
            env = {**os.environ, "PYTHONPATH": str(ROOT), "LUNGCT_HOME": str(tmp), "TMPDIR": str(tmp),
                   "LUNGCT_FAULTS": fault_spec, "LUNGCT_FAULTS_SEED": str(config.seed * 100 + w),
                   "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
            procs.append((subprocess.Popen([sys.executable, __file__, "--worker-process", aws.endpoint, str(tmp / "stats.json"),
                                            str(config.max_seconds)], env=env, cwd=ROOT), tmp / "stats.json"))
        for proc, _ in procs:
            proc.wait()
        report.seconds = time.perf_counter() - t0
        report.load_after = tuple(round(x, 2) for x in os.getloadavg())
        if any(proc.returncode for proc, _ in procs):
            raise RuntimeError(f"a worker process failed: {[p.returncode for p, _ in procs]}")
        outcomes: Counter[str] = Counter()
        for _, path in procs:
            stats = json.loads(path.read_text())
            outcomes.update(stats["outcomes"])
            report.messages_received += stats["received"]
            report.batches += stats["batches"]
            report.queue_retries += stats["failed"]
            report.faults_injected += stats["faults"].get("injected_total", 0)
            report.client_retries += stats["faults"].get("client_retries", 0)
        report.outcomes = dict(outcomes)
        report.duplicates_suppressed = outcomes.get("duplicate", 0) + outcomes.get("stale", 0)

        # Verify: exactly one final result per uploaded object, for the version uploaded.
        from lungct.results import ResultStore

        store = ResultStore(ctx.client("dynamodb"), ctx.names.results_table)
        results = {(r.study_id, r.image): r for s in studies for r in store.query_study(s)}
        report.results = len(results)
        report.results_by_status = dict(Counter(r.status for r in results.values()))
        dead = _dead_lettered(sqs, aws.urls["dlq_url"])
        report.dead_lettered = len(dead)
        for study, name, etag, _ in uploaded:
            result = results.get((study, name))
            if result is None:
                report.lost += int((study, name) not in dead)
            elif result.source_etag != etag:
                report.wrong_version += 1
            else:
                report.objects_with_one_final_result += 1
        report.throughput_images_per_s = len(uploaded) / report.seconds if report.seconds else 0.0
    finally:
        aws.stop()
        if work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    return report


def _dead_lettered(sqs: Any, dlq_url: str) -> set[tuple[str, str]]:
    from lungct.cli.dlq import list_dead_letters

    return {(d.study_id, d.image) for d in list_dead_letters(sqs, dlq_url)}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker-process"]:
        return worker_process(argv[1], Path(argv[2]), float(argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--studies", type=int, default=50)
    parser.add_argument("--faults", type=float, default=0.05, help="fault rate per S3/DynamoDB call (default 0.05)")
    parser.add_argument("--duplicates", type=float, default=0.05, help="share of S3 events delivered twice (default 0.05)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--synthetic", action="store_true", help="synthetic slices instead of --data")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--artifact", type=Path, default=None, help="serving artifact to use (default: train a 64 px one)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    config = LoadConfig(images=args.images, studies=args.studies, fault_rate=args.faults, duplicate_rate=args.duplicates,
                        workers=args.workers, synthetic=args.synthetic, data=args.data, artifact=args.artifact, seed=args.seed)
    report = run(config)
    print("\n".join(report.lines()))
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, default=str))
    return 0 if report.lost == 0 and report.wrong_version == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
