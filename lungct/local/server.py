"""Run moto's server on loopback and record where it listens, so other commands find it."""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from lungct.aws import AwsContext, local_state_file
from lungct.config import LOCAL_ENV, resource_names
from lungct.local.resources import LOCAL_VISIBILITY_TIMEOUT_S, create_resources

SERVICES = ("s3", "sqs", "dynamodb", "ssm", "sts")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedAws:
    """A moto server in this process (its own thread), with the local environment's resources."""

    def __init__(self, port: int | None = None, *, state_file: Path | None = None,
                 visibility_timeout_s: int = LOCAL_VISIBILITY_TIMEOUT_S) -> None:
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.state_file = state_file or local_state_file()
        self.visibility_timeout_s = visibility_timeout_s
        self._server: Any = None
        self.names = resource_names(LOCAL_ENV)
        self.urls: dict[str, str] = {}

    def start(self) -> EmbeddedAws:
        from moto.server import ThreadedMotoServer

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        self._wait_ready()
        ctx = self.context()
        self.urls = create_resources(
            {s: ctx.client(s) for s in SERVICES}, self.names, visibility_timeout_s=self.visibility_timeout_s
        )
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps({"endpoint": self.endpoint, "pid": os.getpid(), "env": LOCAL_ENV}))
        return self

    def _wait_ready(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the embedded AWS did not start listening on port {self.port} within {timeout_s} s")

    def context(self) -> AwsContext:
        return AwsContext.for_env(LOCAL_ENV, endpoint_url=self.endpoint)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        try:
            state = json.loads(self.state_file.read_text())
            if state.get("endpoint") == self.endpoint:
                self.state_file.unlink()
        except (OSError, ValueError):
            pass

    def __enter__(self) -> EmbeddedAws:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
