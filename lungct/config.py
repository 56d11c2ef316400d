"""Every resource name, derived from the environment name, in one place.

The CDK stacks, the embedded AWS, the Lambda handlers and the CLI all import these names, so an
environment is the same set of resources wherever it runs. Runtime settings read from environment
variables live here too, with their defaults.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from lungct.errors import ConfigurationError

PROJECT = "lungct"
LOCAL_ENV = "local"
DEFAULT_ENV = LOCAL_ENV
LOCAL_ACCOUNT = "123456789012"  # moto's default account
DEFAULT_REGION = "us-east-1"
REGISTERED_MODEL = "lungct-vgg16"
INCOMING_PREFIX = "incoming/"
HEATMAP_PREFIX = "heatmaps/"
MODELS_PREFIX = "models/"
MAX_RECEIVE_COUNT = 3  # receives before a message goes to the dead-letter queue
DLQ_RETENTION_DAYS = 14

# CloudWatch metrics in embedded metric format: emitted per batch by the inference function
# (lungct.metrics), graphed by the dashboard (infra/monitoring.py).
METRIC_NAMESPACE = PROJECT
METRIC_DIMENSION = "env"
METRIC_IMAGES = "ImagesWritten"
METRIC_CLASSIFIED = "Classified"
METRIC_REJECTED = "Rejected"
METRIC_REVIEW_FLAGGED = "ReviewFlagged"
METRIC_NOT_CT_LIKE = "NotCtLike"
METRIC_MEAN_CONFIDENCE = "MeanConfidence"
METRIC_IMAGE_LATENCY = "ImageLatency"  # ms per image: download + decode + predict
METRIC_PREDICTED_PREFIX = "Predicted_"  # + label, e.g. Predicted_adenocarcinoma


def predicted_metric(label: str) -> str:
    return f"{METRIC_PREDICTED_PREFIX}{label}"


_ENV_RE = re.compile(r"^[a-z][a-z0-9-]{0,15}$")


def validate_env(env: str) -> str:
    """Environment names become part of bucket names: lower case, short, DNS-safe."""
    if not _ENV_RE.fullmatch(env or ""):
        raise ConfigurationError(
            f"environment name {env!r} is invalid: use 1-16 characters of a-z, 0-9 and '-', "
            "starting with a letter (for example 'dev' or 'prod')"
        )
    return env


@dataclass(frozen=True)
class ResourceNames:
    """Names of one environment's resources. ``account``/``region`` may be CDK tokens."""

    env: str
    account: str
    region: str

    @property
    def prefix(self) -> str:
        return f"{PROJECT}-{self.env}"

    @property
    def images_bucket(self) -> str:
        return f"{self.prefix}-images-{self.account}-{self.region}"

    @property
    def artifacts_bucket(self) -> str:
        return f"{self.prefix}-artifacts-{self.account}-{self.region}"

    @property
    def access_log_bucket(self) -> str:
        return f"{self.prefix}-access-logs-{self.account}-{self.region}"

    @property
    def queue(self) -> str:
        return f"{self.prefix}-images"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.prefix}-images-dlq"

    @property
    def results_table(self) -> str:
        return f"{self.prefix}-results"

    @property
    def model_parameter(self) -> str:
        return f"/{PROJECT}/{self.env}/serving-model"

    @property
    def infer_function(self) -> str:
        return f"{self.prefix}-infer"

    @property
    def api_function(self) -> str:
        return f"{self.prefix}-api"

    @property
    def training_job_queue(self) -> str:
        return f"{self.prefix}-training"

    @property
    def training_job_definition(self) -> str:
        return f"{self.prefix}-train"

    @property
    def alarm_topic(self) -> str:
        return f"{self.prefix}-alarms"

    @property
    def training_schedule(self) -> str:
        return f"{self.prefix}-training"

    @property
    def mlflow_tracking_server(self) -> str:
        return f"{self.prefix}-mlflow"

    @property
    def dashboard(self) -> str:
        return f"{self.prefix}"

    @property
    def stage(self) -> str:
        """CDK stage name; stacks are ``<stage>-<Concern>``."""
        return f"{PROJECT.capitalize()}-{self.env}"

    def stack(self, concern: str) -> str:
        return f"{self.stage}-{concern}"


def resource_names(env: str, account: str | None = None, region: str | None = None) -> ResourceNames:
    """Names for ``env``; the local environment lives in moto's default account and region."""
    validate_env(env)
    if env == LOCAL_ENV:
        return ResourceNames(env, account or LOCAL_ACCOUNT, region or DEFAULT_REGION)
    return ResourceNames(
        env,
        account or os.environ.get("CDK_DEFAULT_ACCOUNT") or os.environ.get("AWS_ACCOUNT_ID") or "",
        region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
    )


@dataclass(frozen=True)
class RuntimeSettings:
    """What the serving functions read from their environment (set by the CDK stack)."""

    env: str
    results_table: str
    model_parameter: str
    pointer_ttl_s: float
    review_confidence: float
    heatmaps: bool
    images_bucket: str | None
    ood_thresholds: dict[str, float] = field(default_factory=dict)  # LUNGCT_OOD_*, see lungct.review

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> RuntimeSettings:
        environ = dict(os.environ if environ is None else environ)
        env = validate_env(environ.get("LUNGCT_ENV", DEFAULT_ENV))
        names = resource_names(env, region=environ.get("AWS_REGION") or None)
        return cls(
            env=env,
            results_table=environ.get("LUNGCT_RESULTS_TABLE") or names.results_table,
            model_parameter=environ.get("LUNGCT_MODEL_PARAMETER") or names.model_parameter,
            pointer_ttl_s=float(environ.get("LUNGCT_POINTER_TTL_S", "300")),
            review_confidence=float(environ.get("LUNGCT_REVIEW_CONFIDENCE", "0.6")),
            heatmaps=environ.get("LUNGCT_HEATMAPS", "0").lower() in ("1", "true", "yes"),
            images_bucket=environ.get("LUNGCT_IMAGES_BUCKET") or None,
            ood_thresholds=_ood_thresholds(environ),
        )


def _ood_thresholds(environ: dict[str, str]) -> dict[str, float]:
    from lungct.review import ood_thresholds_from_environ  # deferred: config stays import-light

    return ood_thresholds_from_environ(environ)
