"""Fault injection for the embedded AWS: transient S3 and DynamoDB errors, on purpose and seeded.

A :class:`FaultInjector` hooks botocore's ``before-send`` event of chosen operations and, with a
given probability, answers a request itself with the error AWS sends when it is overloaded (S3:
``503 SlowDown``; DynamoDB: ``400 ProvisionedThroughputExceededException``) instead of sending it.
botocore then does what it does with a real fault: retries within the client, and raises once its
attempts are spent, so the handler's queue-level retry is exercised too. The ``after-call`` hook
counts the retries botocore made, so a benchmark can report them.

Enable it for the local worker (and so for the real handler's clients) with an environment
variable; entries are ``service:Operation:rate[:limit][@substring]``::

    LUNGCT_FAULTS="s3:GetObject:0.05,dynamodb:PutItem:0.05" LUNGCT_FAULTS_SEED=7 lungct local worker

``limit`` caps how many faults the entry injects (``s3:GetObject:1:6`` fails the first six calls);
``@substring`` restricts the entry to requests whose URL or body contains it (an object key, say).
Never set on AWS: the variable is read by the local worker only.
"""
from __future__ import annotations

import json
import os
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from lungct.errors import ConfigurationError

FAULTS_ENV = "LUNGCT_FAULTS"
SEED_ENV = "LUNGCT_FAULTS_SEED"

# service -> (HTTP status, error code, body builder)
_S3_BODY = "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>injected fault</Message></Error>"
_ERRORS: dict[str, tuple[int, str]] = {
    "s3": (503, "SlowDown"),
    "dynamodb": (400, "ProvisionedThroughputExceededException"),
    "sqs": (500, "InternalError"),
    "ssm": (500, "InternalServerError"),
}


@dataclass
class FaultRule:
    service: str
    operation: str
    rate: float
    limit: int | None = None
    match: str | None = None
    injected: int = 0

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


@dataclass
class FaultStats:
    injected: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    retries: int = 0  # retries botocore made inside the clients (all causes)
    failed_calls: int = 0  # calls that raised after botocore's attempts were spent

    def to_json(self) -> dict[str, Any]:
        return {"injected": dict(self.injected), "calls": dict(self.calls), "client_retries": self.retries,
                "failed_calls": self.failed_calls, "injected_total": sum(self.injected.values())}


def parse_spec(spec: str) -> list[FaultRule]:
    """``s3:GetObject:0.05,dynamodb:PutItem:0.05[:limit][@substring]`` -> rules; refuses typos loudly."""
    rules: list[FaultRule] = []
    for entry in filter(None, (e.strip() for e in (spec or "").split(","))):
        body, _, match = entry.partition("@")
        parts = body.split(":")
        if len(parts) not in (3, 4) or parts[0] not in _ERRORS or not parts[1]:
            raise ConfigurationError(
                f"fault entry {entry!r} is invalid: use service:Operation:rate[:limit][@substring] "
                f"with service one of {sorted(_ERRORS)}"
            )
        try:
            rate = float(parts[2])
            limit = int(parts[3]) if len(parts) == 4 else None
        except ValueError:
            raise ConfigurationError(f"fault entry {entry!r}: rate must be a number and limit an integer") from None
        if not 0.0 <= rate <= 1.0:
            raise ConfigurationError(f"fault entry {entry!r}: rate must lie in 0..1, got {rate}")
        rules.append(FaultRule(parts[0], parts[1], rate, limit, match or None))
    return rules


class _Raw:
    """The raw-response shape botocore's AWSResponse reads."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def stream(self, **_: Any):  # noqa: ANN201 - botocore's protocol
        yield self._content


class FaultInjector:
    """Seeded transient faults on chosen operations of the clients (or sessions) it is attached to."""

    def __init__(self, rules: list[FaultRule], *, seed: int = 0) -> None:
        self.rules = rules
        self.enabled = True
        self.stats = FaultStats()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._attached: list[tuple[Any, str, Any]] = []

    @classmethod
    def from_spec(cls, spec: str, *, seed: int = 0) -> FaultInjector:
        return cls(parse_spec(spec), seed=seed)

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> FaultInjector | None:
        environ = dict(os.environ if environ is None else environ)
        spec = environ.get(FAULTS_ENV, "")
        if not spec.strip():
            return None
        return cls.from_spec(spec, seed=int(environ.get(SEED_ENV, "0") or 0))

    # -- wiring ---------------------------------------------------------------------------------
    def attach(self, target: Any) -> FaultInjector:
        """Hook a boto3 client (``client.meta.events``) or a boto3/botocore session (``.events``).

        A session passes its hooks to the clients it creates afterwards (the handler's, for one).
        """
        events = target.meta.events if hasattr(target, "meta") else target.events
        services = {r.service for r in self.rules}
        for rule in self.rules:
            self._register(events, f"before-send.{rule.service}.{rule.operation}", self._make_hook(rule))
        for service in services:
            self._register(events, f"after-call.{service}", self._count)
        return self

    def _register(self, events: Any, name: str, hook: Any) -> None:
        events.register(name, hook)
        self._attached.append((events, name, hook))

    def detach(self) -> None:
        """Stop injecting; clients built from a hooked session keep the hook but it does nothing."""
        self.enabled = False
        for events, name, hook in self._attached:
            events.unregister(name, hook)
        self._attached.clear()

    def __enter__(self) -> FaultInjector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    # -- hooks ----------------------------------------------------------------------------------
    def _should_fail(self, rule: FaultRule, request: Any) -> bool:
        if not self.enabled:
            return False
        if rule.match:
            body = request.body if isinstance(request.body, (bytes, str)) else b""
            body = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            from urllib.parse import unquote

            if rule.match not in unquote(request.url) and rule.match not in body:
                return False
        with self._lock:
            self.stats.calls[rule.name] = self.stats.calls.get(rule.name, 0) + 1
            if rule.limit is not None and rule.injected >= rule.limit:
                return False
            if self._rng.random() >= rule.rate:
                return False
            rule.injected += 1
            self.stats.injected[rule.name] = self.stats.injected.get(rule.name, 0) + 1
            return True

    def _make_hook(self, rule: FaultRule) -> Any:
        def hook(request: Any, **_: Any) -> Any:
            if not self._should_fail(rule, request):
                return None
            return _error_response(rule.service, request.url)

        return hook

    def _count(self, http_response: Any = None, parsed: Any = None, **_: Any) -> None:
        meta = (parsed or {}).get("ResponseMetadata", {}) if isinstance(parsed, dict) else {}
        retries = int(meta.get("RetryAttempts", 0) or 0)
        failed = http_response is not None and getattr(http_response, "status_code", 200) >= 300
        with self._lock:
            self.stats.retries += retries
            self.stats.failed_calls += int(failed and retries > 0)


def _error_response(service: str, url: str) -> Any:
    from botocore.awsrequest import AWSResponse

    status, code = _ERRORS[service]
    if service == "s3":
        body = _S3_BODY.format(code=code).encode()
        headers = {"Content-Type": "application/xml", "x-amz-request-id": "injected"}
    elif service in ("dynamodb",):
        body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected fault"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    else:
        body = json.dumps({"__type": code, "message": "injected fault"}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    headers["Content-Length"] = str(len(body))
    return AWSResponse(url, status, headers, _Raw(body))


def install_from_environ() -> FaultInjector | None:
    """Hook boto3's default session when ``LUNGCT_FAULTS`` is set (the local worker calls this)."""
    injector = FaultInjector.from_environ()
    if injector is not None:
        import boto3

        injector.attach(boto3._get_default_session())
    return injector
