"""boto3 clients for an environment: the embedded AWS (moto server) or a real account.

The embedded stack writes its endpoint to ``$LUNGCT_HOME/local.json`` when it starts, so every
other command finds it without flags. ``AWS_ENDPOINT_URL`` (boto3's own variable) wins when set.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from lungct.config import DEFAULT_REGION, LOCAL_ENV, ResourceNames, resource_names
from lungct.errors import ConfigurationError

LOCAL_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def lungct_home() -> Path:
    """Where local state lives (embedded AWS endpoint, MLflow store): ``$LUNGCT_HOME`` or ``./.lungct``."""
    return Path(os.environ.get("LUNGCT_HOME", ".lungct")).resolve()


def local_state_file() -> Path:
    return lungct_home() / "local.json"


def read_local_endpoint() -> str:
    path = local_state_file()
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(
            f"no embedded AWS is running ({path} not found); start one with `lungct local up`"
        ) from None
    return str(state["endpoint"])


@dataclass
class AwsContext:
    """An environment's names and the clients to reach it."""

    env: str
    region: str = DEFAULT_REGION
    endpoint_url: str | None = None
    account: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def for_env(cls, env: str, *, endpoint_url: str | None = None) -> AwsContext:
        if env == LOCAL_ENV:
            endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or read_local_endpoint()
            return cls(env=env, region=DEFAULT_REGION, endpoint_url=endpoint)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        return cls(env=env, region=region, endpoint_url=endpoint_url)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3
            from botocore.config import Config

            kwargs: dict[str, Any] = {
                "region_name": self.region,
                "config": Config(retries={"max_attempts": 5, "mode": "adaptive"}),
            }
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            if self.env == LOCAL_ENV:
                kwargs.update(LOCAL_CREDENTIALS)
            self._clients[service] = boto3.client(service, **kwargs)
        return self._clients[service]

    @cached_property
    def names(self) -> ResourceNames:
        if self.env == LOCAL_ENV:
            return resource_names(self.env)
        account = self.account or self.client("sts").get_caller_identity()["Account"]
        return resource_names(self.env, account=account, region=self.region)
