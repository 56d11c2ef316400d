"""``lungct local up | worker``: the embedded AWS and the stand-in for Lambda's SQS event source."""
from __future__ import annotations

import argparse
import logging
import signal
import threading

from lungct.aws import AwsContext
from lungct.config import LOCAL_ENV


def register(sub: argparse._SubParsersAction) -> None:
    local = sub.add_parser("local", help="run the whole system on this machine (moto server)")
    lsub = local.add_subparsers(dest="local_command", required=True, metavar="COMMAND")
    up = lsub.add_parser("up", help="start the embedded AWS with the stack's resources; runs until interrupted")
    up.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    up.set_defaults(func=cmd_up)
    worker = lsub.add_parser("worker", help="feed queued S3 events to the real Lambda handler")
    worker.add_argument("--until-empty", action="store_true", help="exit once the queue has stayed empty briefly")
    worker.add_argument("--idle", type=float, default=2.0, help="seconds of empty queue before --until-empty exits")
    worker.add_argument("--batch-size", type=int, default=10)
    worker.set_defaults(func=cmd_worker)


def quiet_server_logs() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def cmd_up(args: argparse.Namespace) -> int:
    from lungct.local import EmbeddedAws

    quiet_server_logs()
    aws = EmbeddedAws(port=args.port).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"embedded AWS ready at {aws.endpoint} (state in {aws.state_file}); Ctrl-C to stop", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        aws.stop()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from lungct.local import Worker

    worker = Worker(AwsContext.for_env(LOCAL_ENV), batch_size=args.batch_size)
    stats = worker.run(
        until_empty=args.until_empty,
        idle_s=args.idle,
        on_batch=lambda s: print(f"worker: {s.received} messages, {s.deleted} done, {s.failed} to retry", flush=True),
    )
    print(f"worker: finished after {stats.batches} batches ({stats.deleted} done, {stats.failed} retried)")
    return 0
