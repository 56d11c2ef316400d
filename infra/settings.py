"""Per-environment settings, read from the ``environments`` context of ``cdk.json``.

One place for every value that differs between environments; constructs receive them as
keyword-only arguments. ``-c env=<name>`` selects one environment, without it every environment in
the context is synthesized.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs

from lungct.config import validate_env

CONTEXT_KEY = "environments"
SELECT_KEY = "env"
NETWORK_MODES = ("endpoints", "nat")
RETENTION_DAYS = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS, 120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS, 545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS, 1096: logs.RetentionDays.THREE_YEARS, 1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS, 2557: logs.RetentionDays.SEVEN_YEARS, 2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS, 3653: logs.RetentionDays.TEN_YEARS,
}
REMOVAL_POLICIES = {"destroy": RemovalPolicy.DESTROY, "retain": RemovalPolicy.RETAIN}


class SettingsError(ValueError):
    """An environment's settings in cdk.json are missing or invalid."""


@dataclass(frozen=True, kw_only=True)
class EnvironmentSettings:
    """Everything that differs between environments. Field names are the keys in cdk.json."""

    name: str
    # inference function and its event source mapping
    infer_memory_mb: int = 3008
    infer_timeout_s: int = 120
    infer_ephemeral_storage_mb: int = 1024
    infer_reserved_concurrency: int = 5
    batch_size: int = 10
    max_batching_window_s: int = 5
    max_concurrency: int = 2
    pointer_ttl_s: int = 300
    review_confidence: float = 0.6
    heatmaps: bool = False
    # query API
    api_memory_mb: int = 256
    api_reserved_concurrency: int = 5
    api_throttle_rate: int = 20
    api_throttle_burst: int = 40
    # training
    schedule_cron: str = "cron(0 3 ? * SUN *)"
    schedule_timezone: str = "UTC"
    schedule_enabled: bool = True
    gpu_instance_types: tuple[str, ...] = ("g5.xlarge",)
    spot: bool = True
    max_vcpus: int = 8
    job_vcpus: int = 4
    job_memory_mib: int = 15000
    job_timeout_h: int = 6
    network: str = "endpoints"
    max_azs: int = 2
    mlflow_tracking_uri: str | None = None
    mlflow_server_size: str = "Small"
    # storage
    incoming_expiration_days: int = 365
    noncurrent_expiration_days: int = 30
    access_log_expiration_days: int = 365
    # operations
    log_retention_days: int = 30
    removal_policy: str = "destroy"
    alarm_email: str | None = None
    oldest_message_alarm_s: int = 900
    tags: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_env(self.name)
        if self.network not in NETWORK_MODES:
            raise SettingsError(f"{self.name}: network must be one of {NETWORK_MODES}, got {self.network!r}")
        if self.removal_policy not in REMOVAL_POLICIES:
            raise SettingsError(
                f"{self.name}: removal_policy must be one of {tuple(REMOVAL_POLICIES)}, got {self.removal_policy!r}"
            )
        if not 2 <= self.max_concurrency <= 1000:
            raise SettingsError(f"{self.name}: max_concurrency must be 2-1000 (SQS event source), got {self.max_concurrency}")
        if self.max_concurrency > self.infer_reserved_concurrency:
            raise SettingsError(
                f"{self.name}: max_concurrency ({self.max_concurrency}) above infer_reserved_concurrency "
                f"({self.infer_reserved_concurrency}) only produces throttles"
            )
        if not 1 <= self.batch_size <= 10_000:
            raise SettingsError(f"{self.name}: batch_size must be 1-10000, got {self.batch_size}")
        if self.batch_size > 10 and self.max_batching_window_s < 1:
            raise SettingsError(f"{self.name}: batch_size above 10 needs max_batching_window_s >= 1")
        if not 0 <= self.max_batching_window_s <= 300:
            raise SettingsError(f"{self.name}: max_batching_window_s must be 0-300, got {self.max_batching_window_s}")
        if not self.schedule_cron.startswith(("cron(", "rate(")):
            raise SettingsError(f"{self.name}: schedule_cron must be a Scheduler cron(...) or rate(...), got {self.schedule_cron!r}")
        if self.log_retention_days not in RETENTION_DAYS:
            raise SettingsError(
                f"{self.name}: log_retention_days must be one of CloudWatch's {sorted(RETENTION_DAYS)}, "
                f"got {self.log_retention_days}"
            )
        if not self.gpu_instance_types:
            raise SettingsError(f"{self.name}: gpu_instance_types is empty")

    @property
    def removal(self) -> RemovalPolicy:
        return REMOVAL_POLICIES[self.removal_policy]

    @property
    def log_retention(self) -> logs.RetentionDays:
        return RETENTION_DAYS[self.log_retention_days]

    @property
    def is_retained(self) -> bool:
        return self.removal is RemovalPolicy.RETAIN

    @property
    def queue_visibility_timeout_s(self) -> int:
        """AWS's advice for SQS event sources: six times the function timeout plus the batching window."""
        return 6 * self.infer_timeout_s + self.max_batching_window_s

    @classmethod
    def from_context(cls, name: str, raw: dict[str, Any]) -> EnvironmentSettings:
        known = {f.name for f in fields(cls)} - {"name"}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SettingsError(f"{name}: unknown setting(s) {unknown}; known: {sorted(known)}")
        values = dict(raw)
        if "gpu_instance_types" in values:
            values["gpu_instance_types"] = tuple(values["gpu_instance_types"])
        return cls(name=name, **values)


def load_environments(context: dict[str, Any] | None, selected: str | None = None) -> list[EnvironmentSettings]:
    """The environments to synthesize: the selected one, or all of them."""
    if not context:
        raise SettingsError(f"cdk.json has no {CONTEXT_KEY!r} context")
    environments = [EnvironmentSettings.from_context(name, raw or {}) for name, raw in context.items()]
    if selected is None:
        return environments
    for settings in environments:
        if settings.name == selected:
            return [settings]
    raise SettingsError(f"unknown environment {selected!r}: cdk.json defines {sorted(context)}")
