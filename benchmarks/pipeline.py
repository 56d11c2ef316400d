"""End to end on the embedded AWS: upload N CT images, one worker runs the real handler until all
results are written; compares images/s with the pure model throughput of the same artifact.

The moto server runs in its own process (as S3, SQS and DynamoDB are not in the Lambda's process);
the worker plays the event source mapping with batches of 10 in this process. Not part of
``make test``.

    python benchmarks/pipeline.py --artifact out/bench/published --images 200 [--json out/bench/pipeline.json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.paths import SHARED_DATA as DATA  # noqa: E402
SERVER = """
import logging, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)
from pathlib import Path
from lungct.local import EmbeddedAws
aws = EmbeddedAws(port=int(sys.argv[1]), state_file=Path(sys.argv[2]), visibility_timeout_s=60).start()
print("ready", flush=True)
sys.stdin.read()
aws.stop()
"""


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of this process (all threads) or of ``pid``."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def model_throughput(artifact: Path, pngs: list[bytes]) -> float:
    """Images/s of Classifier.predict alone, one image per call, on the same images."""
    from lungct.imaging import preprocess
    from lungct.model.runtime import Classifier

    clf = Classifier(artifact)
    xs = np.stack([preprocess(b, clf.params) for b in pngs])
    clf.predict(xs[:2])
    t0 = time.perf_counter()
    for x in xs:
        clf.predict(x[None])
    return len(xs) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--artifact", type=Path, default=ROOT / "out/bench/published")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    from lungct.aws import AwsContext
    from lungct.config import LOCAL_ENV
    from lungct.keys import incoming_key
    from lungct.local.server import free_port
    from lungct.model.publish import publish

    paths = sorted(args.data.rglob("*.png"))[: args.images]
    pngs = [p.read_bytes() for p in paths]
    home = Path(tempfile.mkdtemp(prefix="lungct-bench-"))
    os.environ["LUNGCT_HOME"] = str(home)
    # The handler caches artifacts by name and version under the temp folder: start from an empty one,
    # so an earlier run's artifact with the same name and version is never served.
    tempfile.tempdir = str(home)
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ.setdefault(var, value)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), str(home / "local.json")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        ctx = AwsContext.for_env(LOCAL_ENV, endpoint_url=f"http://127.0.0.1:{port}")
        publish(ctx.client("s3"), ctx.client("ssm"), args.artifact, bucket=ctx.names.artifacts_bucket,
                parameter=ctx.names.model_parameter)

        import lambda_infer.handler as handler_module
        from lungct.local import Worker

        handler_s: list[float] = []

        def timed_handler(event, context):  # the time the function itself runs, per batch
            t = time.perf_counter()
            try:
                return handler_module.handler(event, context)
            finally:
                handler_s.append(time.perf_counter() - t)

        worker = Worker(ctx, handler=timed_handler)
        handler_module._service = None
        # Warm the container (model download and load) as a provisioned Lambda would be.
        s3 = ctx.client("s3")
        s3.put_object(Bucket=ctx.names.images_bucket, Key=incoming_key("warmup", "w.png"), Body=pngs[0])
        worker.run(until_empty=True, idle_s=0.3, max_seconds=120)
        cold_handler_s = handler_s[0] if handler_s else None  # clients, SSM pointer, artifact download + load, 1 image
        worker.stats = type(worker.stats)()
        handler_s.clear()

        load = load_average()
        t0 = time.perf_counter()
        for i, (path, data) in enumerate(zip(paths, pngs)):
            s3.put_object(Bucket=ctx.names.images_bucket, Key=incoming_key("bench", f"{i:04d}-{path.name}"), Body=data)
        uploaded = time.perf_counter() - t0
        done_at: list[float] = []
        cpu0, server_cpu0 = cpu_seconds(), cpu_seconds(server.pid)
        t1 = time.perf_counter()
        stats = worker.run(until_empty=True, idle_s=0.5, max_seconds=900,
                           on_batch=lambda s: done_at.append(time.perf_counter()))
        worker_s = (done_at[-1] if done_at else time.perf_counter()) - t1
        cpu = {"worker_process_s": round(cpu_seconds() - cpu0, 2), "aws_emulator_s": round(cpu_seconds(server.pid) - server_cpu0, 2)}
        from lungct.results import ResultStore

        results = ResultStore(ctx.client("dynamodb"), ctx.names.results_table).query_study("bench")
        classified = sum(r.status == "CLASSIFIED" for r in results)
        timings = {k: float(np.median([r.timings_ms.get(k, 0.0) for r in results])) for k in ("download", "decode", "predict")}
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=30)

    model_ips = model_throughput(args.artifact, pngs)
    e2e = len(pngs) / worker_s
    row = {"images": len(pngs), "results": len(results), "classified": classified, "batches": stats.batches,
           "failed": stats.failed, "upload_s": round(uploaded, 2), "worker_s": round(worker_s, 2),
           "end_to_end_images_per_s": round(e2e, 2),
           "end_to_end_incl_upload_images_per_s": round(len(pngs) / (uploaded + worker_s), 2),
           "model_images_per_s": round(model_ips, 2), "ratio": round(e2e / model_ips, 3),
           "handler_s": round(sum(handler_s), 2),
           "cold_handler_first_batch_s": round(cold_handler_s, 2) if cold_handler_s else None,
           "handler_images_per_s": round(len(pngs) / sum(handler_s), 2) if handler_s else None,
           "median_ms": {k: round(v, 1) for k, v in timings.items()}, "cpu_s": cpu, "load_avg_before": load,
           "load_avg_end": load_average(), "quantization": json.loads((args.artifact / "model.json").read_text())["quantization"]}
    print(f"end to end: {row['images']} images -> {row['results']} results ({classified} classified) in "
          f"{row['worker_s']} s with one worker: {row['end_to_end_images_per_s']} images/s "
          f"({row['end_to_end_incl_upload_images_per_s']} incl. upload)")
    print(f"cold handler, first batch of one image (boto3 clients, SSM, artifact download and load, classify, write): "
          f"{row['cold_handler_first_batch_s']} s")
    print(f"inside the handler: {row['handler_s']} s ({row['handler_images_per_s']} images/s); the rest is the "
          f"event source mapping's receive and delete, which on Lambda polls concurrently")
    print(f"CPU seconds while the worker ran: {cpu} (2 vCPUs x {row['worker_s']} s = {2 * row['worker_s']:.1f} available)")
    print(f"model alone: {row['model_images_per_s']} images/s -> end to end is {row['ratio']:.0%} of it "
          f"(median per image ms: {row['median_ms']}; load {load} -> {row['load_avg_end']})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(row, indent=2) + "\n")
    return 0 if len(results) == len(pngs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
