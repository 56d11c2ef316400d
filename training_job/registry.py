"""MLflow: tracking runs, registering versions of ``lungct-vgg16``, the champion/challenger gate.

Every trained version that passed evaluation is registered and gets the ``challenger`` alias. It
becomes ``champion`` only when its deduplicated macro-F1 on the same evaluation manifest is at
least the champion's minus a tolerance, and its export passed the parity check. Promotion
publishes the artifact (S3 + SSM pointer) first and moves the alias after, so a refused or failed
publication leaves serving and the registry as they were.

Tracking URI: ``MLFLOW_TRACKING_URI`` when set (AWS), else SQLite under ``$LUNGCT_HOME``
(``.lungct/mlflow.db``, artifacts in ``.lungct/mlartifacts``). mlflow is imported lazily.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from lungct.aws import lungct_home
from lungct.config import REGISTERED_MODEL
from lungct.errors import ArtifactError, LungctError
from lungct.model.artifact import load_card

EXPERIMENT = "lungct-training"
CHALLENGER, CHAMPION = "challenger", "champion"
GATE_METRIC = "dedup_macro_f1"
DEFAULT_TOLERANCE = 0.01
SERVING_PATH = "serving"
HISTORY_TAG = "lungct.champion_history"

Publisher = Callable[[Path], str]


class RegistryError(LungctError):
    """The registry refused an operation (unknown version, no champion to roll back to, ...)."""


class GateRefused(RegistryError):
    """A version may not become champion; the message says why."""


def tracking_uri(environ: dict[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    uri = env.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{lungct_home() / 'mlflow.db'}"


def client(uri: str | None = None) -> Any:
    """An MlflowClient on ``uri`` (default :func:`tracking_uri`), with the tracking URI set globally too."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow import MlflowClient

    uri = uri or tracking_uri()
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def experiment_id(mlflow_client: Any, name: str = EXPERIMENT) -> str:
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if str(mlflow_client.tracking_uri).startswith("sqlite:///"):
        db = Path(str(mlflow_client.tracking_uri)[len("sqlite:///"):])
        location = (db.parent / "mlartifacts").resolve().as_uri()
    return mlflow_client.create_experiment(name, artifact_location=location)


# ---------------------------------------------------------------- tracking


class TrainingRun:
    """One MLflow run of the training job; ``with TrainingRun(client) as run: run.log_params(...)``."""

    def __init__(self, mlflow_client: Any, *, run_name: str | None = None, tags: dict[str, str] | None = None):
        self.client = mlflow_client
        self.run_name, self.tags = run_name, tags or {}
        self.run_id = ""
        self.artifact_uri = ""

    def __enter__(self) -> TrainingRun:
        run = self.client.create_run(experiment_id(self.client), run_name=self.run_name, tags=self.tags)
        self.run_id, self.artifact_uri = run.info.run_id, run.info.artifact_uri
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.client.set_terminated(self.run_id, status="FAILED" if exc_type else "FINISHED")

    def log_params(self, params: dict[str, Any]) -> None:
        for key, value in sorted(_flatten(params).items()):
            self.client.log_param(self.run_id, key, "none" if value is None else value)

    def log_metrics(self, metrics: dict[str, Any], *, step: int | None = None) -> None:
        for key, value in sorted(_flatten(metrics).items()):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.client.log_metric(self.run_id, key, float(value), step=step or 0)

    def log_history(self, history: Iterable[dict[str, Any]]) -> None:
        """Per-epoch metrics, ``phase1_loss`` etc., with a global step."""
        for record in history:
            phase, step = record.get("phase", 1), int(record.get("step", 0))
            self.log_metrics({f"phase{phase}_{k}": v for k, v in record.items()
                              if k not in ("phase", "epoch", "step")}, step=step)

    def set_tags(self, tags: dict[str, Any]) -> None:
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, str(value))

    def log_json(self, name: str, data: Any) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
            self.client.log_artifact(self.run_id, str(path))

    def log_file(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_dir(self, path: Path, artifact_path: str) -> None:
        self.client.log_artifacts(self.run_id, str(path), artifact_path)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        elif not isinstance(value, (list, tuple)):
            out[name] = value
    return out


# ---------------------------------------------------------------- registry


def register(mlflow_client: Any, run_id: str, *, metrics: dict[str, Any], parity_passed: bool,
             artifact_sha256: str = "", name: str = REGISTERED_MODEL) -> str:
    """Register the run's ``serving/`` artifact as a new version with the ``challenger`` alias."""
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.get_registered_model(name)
    except MlflowException:
        mlflow_client.create_registered_model(name, description="VGG16 chest CT slice classifier (research use only)")
    run = mlflow_client.get_run(run_id)
    tags = {
        GATE_METRIC: f"{float(metrics[GATE_METRIC]):.6f}" if metrics.get(GATE_METRIC) is not None else "",
        "eval_manifest_sha256": str(metrics.get("eval_manifest_sha256", "")),
        "parity_passed": "true" if parity_passed else "false",
        "artifact_sha256": artifact_sha256,
    }
    version = mlflow_client.create_model_version(name, f"{run.info.artifact_uri}/{SERVING_PATH}", run_id=run_id,
                                                 tags=tags)
    mlflow_client.set_registered_model_alias(name, CHALLENGER, version.version)
    return str(version.version)


def get_version(mlflow_client: Any, version: str, name: str = REGISTERED_MODEL) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version(name, str(version))
    except MlflowException:
        raise RegistryError(f"{name} has no version {version!r}; see `lungct models list`") from None


def champion(mlflow_client: Any, name: str = REGISTERED_MODEL) -> Any | None:
    from mlflow.exceptions import MlflowException

    try:
        return mlflow_client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


def list_versions(mlflow_client: Any, name: str = REGISTERED_MODEL) -> list[dict[str, Any]]:
    from mlflow.exceptions import MlflowException

    try:
        aliases = mlflow_client.get_registered_model(name).aliases or {}
    except MlflowException:
        return []
    versions = mlflow_client.search_model_versions(f"name='{name}'")
    rows = []
    for v in sorted(versions, key=lambda v: int(v.version)):
        rows.append({
            "version": str(v.version),
            "aliases": sorted(a for a, ver in aliases.items() if str(ver) == str(v.version)),
            GATE_METRIC: v.tags.get(GATE_METRIC, ""),
            "eval_manifest": v.tags.get("eval_manifest_sha256", "")[:12],
            "parity": v.tags.get("parity_passed", ""),
            "run_id": v.run_id,
        })
    return rows


@dataclass
class GateDecision:
    promote: bool
    reason: str
    challenger: str
    champion: str | None = None
    challenger_score: float | None = None
    champion_score: float | None = None


def _score(version: Any) -> float | None:
    raw = version.tags.get(GATE_METRIC, "")
    return float(raw) if raw not in ("", None) else None


def decide(challenger: Any, current: Any | None, *, tolerance: float = DEFAULT_TOLERANCE,
           reevaluate: Callable[[Any], float] | None = None) -> GateDecision:
    """Promote iff parity passed and score >= champion's score - tolerance on the same evaluation manifest.

    When the champion was evaluated on another manifest, ``reevaluate(champion_version)`` scores it
    on the challenger's; without it the gate refuses, saying so.
    """
    version = str(challenger.version)
    score = _score(challenger)
    if challenger.tags.get("parity_passed") != "true":
        return GateDecision(False, f"version {version} did not pass the export parity check", version, None, score)
    if score is None:
        return GateDecision(False, f"version {version} has no {GATE_METRIC}; it was never evaluated", version)
    if current is None:
        return GateDecision(True, "no champion yet", version, None, score)
    if str(current.version) == version:
        return GateDecision(False, f"version {version} is already the champion", version, version, score, score)
    champ_score = _score(current)
    if current.tags.get("eval_manifest_sha256") != challenger.tags.get("eval_manifest_sha256"):
        if reevaluate is None:
            return GateDecision(
                False,
                f"champion {current.version} was evaluated on evaluation manifest "
                f"{current.tags.get('eval_manifest_sha256', '?')[:12]}, version {version} on "
                f"{challenger.tags.get('eval_manifest_sha256', '?')[:12]}: the scores are not comparable; "
                "re-run the job (it re-evaluates the champion) or promote with --force",
                version, str(current.version), score, champ_score)
        champ_score = float(reevaluate(current))
    if champ_score is None:
        return GateDecision(True, f"champion {current.version} has no score", version, str(current.version), score)
    if score >= champ_score - tolerance:
        return GateDecision(True, f"{GATE_METRIC} {score:.4f} >= champion {current.version}'s {champ_score:.4f} "
                            f"- {tolerance}", version, str(current.version), score, champ_score)
    return GateDecision(False, f"{GATE_METRIC} {score:.4f} < champion {current.version}'s {champ_score:.4f} - "
                        f"{tolerance}: keeping the champion", version, str(current.version), score, champ_score)


def download(mlflow_client: Any, version: Any, dst: Path) -> Path:
    """The version's serving artifact folder, verified (sha256, preprocessing, parity recorded as passed)."""
    import mlflow

    path = Path(mlflow.artifacts.download_artifacts(artifact_uri=version.source, dst_path=str(dst),
                                                    tracking_uri=mlflow_client.tracking_uri))
    card = load_card(path, verify=True)
    if not card.parity.get("passed"):
        raise ArtifactError(f"version {version.version}'s artifact records no passed parity check; not publishing it")
    return path


def _history(mlflow_client: Any, name: str) -> list[str]:
    raw = mlflow_client.get_registered_model(name).tags.get(HISTORY_TAG, "[]")
    return [str(v) for v in json.loads(raw)]


def _make_champion(mlflow_client: Any, version: Any, publisher: Publisher, name: str) -> str:
    with tempfile.TemporaryDirectory(prefix="lungct-promote-") as tmp:
        uri = publisher(download(mlflow_client, version, Path(tmp)))
    mlflow_client.set_registered_model_alias(name, CHAMPION, str(version.version))
    return uri


def promote(mlflow_client: Any, version: str, *, publisher: Publisher, tolerance: float = DEFAULT_TOLERANCE,
            force: bool = False, reevaluate: Callable[[Any], float] | None = None,
            name: str = REGISTERED_MODEL) -> GateDecision:
    """Gate, publish, then move ``champion``. Raises GateRefused (nothing changed) when refused.

    ``force`` skips the score comparison, never the parity and sha256 checks.
    """
    candidate = get_version(mlflow_client, version, name)
    current = champion(mlflow_client, name)
    decision = decide(candidate, current, tolerance=tolerance, reevaluate=reevaluate)
    if not decision.promote and force and candidate.tags.get("parity_passed") == "true" \
            and (current is None or str(current.version) != str(candidate.version)):
        decision = GateDecision(True, f"forced: {decision.reason}", decision.challenger, decision.champion,
                                decision.challenger_score, decision.champion_score)
    if not decision.promote:
        raise GateRefused(decision.reason)
    _make_champion(mlflow_client, candidate, publisher, name)
    history = _history(mlflow_client, name)
    mlflow_client.set_registered_model_tag(name, HISTORY_TAG, json.dumps([*history, str(candidate.version)]))
    return decision


def rollback(mlflow_client: Any, *, publisher: Publisher, name: str = REGISTERED_MODEL) -> str:
    """Make the previous champion the champion again (publishing it); returns its version."""
    history = _history(mlflow_client, name)
    current = champion(mlflow_client, name)
    if current is not None and history and history[-1] != str(current.version):
        history.append(str(current.version))
    if len(history) < 2:
        raise RegistryError(f"{name} has no previous champion to roll back to (champion history: {history or 'empty'})")
    previous = get_version(mlflow_client, history[-2], name)
    _make_champion(mlflow_client, previous, publisher, name)
    mlflow_client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[:-1]))
    return str(previous.version)


def aws_publisher(env: str) -> Publisher:
    """Publish to ``env``'s artifacts bucket and point its SSM parameter at it."""
    from lungct.aws import AwsContext
    from lungct.model.publish import publish

    def publisher(directory: Path) -> str:
        ctx = AwsContext.for_env(env)
        return publish(ctx.client("s3"), ctx.client("ssm"), directory,
                       bucket=ctx.names.artifacts_bucket, parameter=ctx.names.model_parameter)

    return publisher
