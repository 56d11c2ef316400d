"""boto3 clients for an environment: the embedded AWS (moto server) or a real account.

The embedded stack writes its endpoint to ``$LUNGCT_HOME/local.json`` when it starts, so every
other command finds it without flags. ``AWS_ENDPOINT_URL`` (boto3's own variable) wins when set.
A deployed environment is found through its CloudFormation stack outputs (``Lungct-<env>-Storage``).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from lungct.config import DEFAULT_REGION, LOCAL_ENV, ResourceNames, resource_names

# Storage stack outputs (infra/stacks.py) -> the ResourceNames property each one names.
_OUTPUT_NAMES = {
    "ImagesBucket": "images_bucket",
    "ArtifactsBucket": "artifacts_bucket",
    "ResultsTable": "results_table",
    "ModelParameter": "model_parameter",
    "QueueUrl": "queue",
    "DeadLetterQueueUrl": "dead_letter_queue",
}


@dataclass(frozen=True)
class DeployedNames(ResourceNames):
    """An environment's names as its deployed stacks report them (outputs win over derived names)."""

    outputs: tuple[tuple[str, str], ...] = ()

    def _output(self, prop: str, derived: str) -> str:
        for key, value in self.outputs:
            if _OUTPUT_NAMES.get(key) == prop:
                return value.rsplit("/", 1)[-1] if key.endswith("Url") else value
        return derived

    images_bucket = property(lambda self: self._output("images_bucket", ResourceNames.images_bucket.fget(self)))
    artifacts_bucket = property(lambda self: self._output("artifacts_bucket", ResourceNames.artifacts_bucket.fget(self)))
    results_table = property(lambda self: self._output("results_table", ResourceNames.results_table.fget(self)))
    model_parameter = property(lambda self: self._output("model_parameter", ResourceNames.model_parameter.fget(self)))
    queue = property(lambda self: self._output("queue", ResourceNames.queue.fget(self)))
    dead_letter_queue = property(lambda self: self._output("dead_letter_queue", ResourceNames.dead_letter_queue.fget(self)))


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The outputs of a deployed stack; ConfigurationError when it is not deployed."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        raise ConfigurationError(
            f"stack {stack_name} is not deployed in this account and region ({exc.response['Error'].get('Message', '')}); "
            "deploy the environment (docs/deploying.md) or check AWS_REGION and your credentials"
        ) from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
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
        derived = resource_names(self.env, account=account, region=self.region)
        outputs = stack_outputs(self.client("cloudformation"), derived.stack("Storage"))
        return DeployedNames(derived.env, derived.account, derived.region, tuple(sorted(outputs.items())))
