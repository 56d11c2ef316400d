"""The training job as named steps: prepare -> train -> evaluate -> export -> register -> gate -> publish.

The DVC stages run the first four one at a time (files under ``out/``); the Batch job runs them all
in one process and adds MLflow, the gate and publishing.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lungct.errors import ConfigurationError, LungctError
from lungct.labels import LABELS
from lungct.model.artifact import ModelCard, file_sha256
from training_job import evaluate as evaluation_mod
from training_job import prepare as prepare_mod
from training_job.train import (
    TrainConfig, TrainResult, calibration_images, fit, head_weights, load_classifier, load_rows, save,
)

Progress = Callable[[str], None]
DEFAULT_OUT = Path("out")


@dataclass
class DataParams:
    dirs: list[str] = field(default_factory=lambda: ["examples/train"])
    eval_splits: list[str] = field(default_factory=lambda: list(prepare_mod.EVAL_SPLITS))
    holdout: float = 0.2
    val_fraction: float = 0.15
    seed: int = 42


@dataclass
class Params:
    data: DataParams = field(default_factory=DataParams)
    train: TrainConfig = field(default_factory=TrainConfig)
    cam_images: int = 8
    min_agreement: float = 0.99
    tolerance: float = 0.01

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Params:
        raw = dict(raw or {})
        data = DataParams(**(raw.pop("data", None) or {}))
        train = TrainConfig.from_dict(raw.pop("train", None) or {})
        evaluate = raw.pop("evaluate", None) or {}
        export = raw.pop("export", None) or {}
        gate = raw.pop("gate", None) or {}
        if raw:
            raise ConfigurationError(f"unknown parameter sections {sorted(raw)}; known: data, train, evaluate, export, gate")
        train.min_agreement = float(export.get("min_agreement", train.min_agreement))
        train.forms = str(export.get("forms", train.forms))
        return cls(data=data, train=train, cam_images=int(evaluate.get("cam_images", 8)),
                   min_agreement=train.min_agreement, tolerance=float(gate.get("tolerance", 0.01)))

    @classmethod
    def load(cls, path: Path | None) -> Params:
        if path is None:
            return cls()
        import yaml

        path = Path(path)
        if not path.is_file():
            raise ConfigurationError(f"parameter file {path} does not exist")
        return cls.from_dict(yaml.safe_load(path.read_text()) or {})


# ---------------------------------------------------------------- steps


def step_prepare(data_dirs: list[Path], out_dir: Path, data: DataParams, *, progress: Progress = print
                 ) -> prepare_mod.Prepared:
    prepared = prepare_mod.prepare(data_dirs, eval_splits=data.eval_splits, holdout=data.holdout,
                                   val_fraction=data.val_fraction, seed=data.seed)
    prepare_mod.write(prepared, out_dir)
    progress(prepare_mod.summary_line(prepared.report))
    return prepared


def step_train(prepared: prepare_mod.Prepared, out_dir: Path, config: TrainConfig, *, progress: Progress = print
               ) -> TrainResult:
    result = fit(prepared, config, progress=progress)
    save(result, out_dir)
    progress(f"train: model saved to {out_dir} (best {result.best})")
    return result


def step_evaluate(train_dir: Path, prepared: prepare_mod.Prepared, out_dir: Path, *, cam_images: int = 8,
                  progress: Progress = print) -> evaluation_mod.Evaluation:
    clf, config, _ = load_classifier(train_dir)
    result = evaluation_mod.evaluate_classifier(clf, prepared, preprocess_params_for(config),
                                                batch_size=config.batch_size)
    evaluation_mod.write(result, head_weights(clf)[0], out_dir, cam_images=cam_images)
    progress(evaluation_mod.summary_line(result.report))
    return result


def preprocess_params_for(config: TrainConfig) -> Any:
    from lungct.imaging import PreprocessParams

    return PreprocessParams(size=config.image_size)


def step_export(train_dir: Path, prepared: prepare_mod.Prepared, metrics_path: Path, out_dir: Path, *,
                version: str | None = None, min_agreement: float | None = None, mlflow_run_id: str | None = None,
                progress: Progress = print) -> ModelCard:
    """The serving artifact; raises ParityError (no ``model.json`` written) when LiteRT disagrees."""
    from training_job.export import export_artifact

    clf, config, info = load_classifier(train_dir)
    params = preprocess_params_for(config)
    report = json.loads(Path(metrics_path).read_text()) if Path(metrics_path).is_file() else {}
    rows = prepared.evaluation(deduplicated=True) or prepared.role("val") or prepared.role("train")
    parity_images, _ = load_rows(rows[:64], params)
    card = export_artifact(
        clf.serving_model, Path(out_dir),
        name=config.name,
        version=version or config.version or datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S"),
        labels=list(LABELS), params=params, parity_images=parity_images,
        min_agreement=min_agreement if min_agreement is not None else config.min_agreement,
        metrics=evaluation_mod.summary_metrics(report) if report else {},
        notes=config.notes, head=head_weights(clf), mlflow_run_id=mlflow_run_id,
        extra=info.get("card_extra") or None,
        calibration_images=calibration_images(prepared, params), forms=config.export_forms,
    )
    progress(f"export: {out_dir} ({card.name} {card.version}; parity top-1 {card.parity['top1_agreement']:.1%}, "
             f"max |dp| {card.parity['max_abs_prob_diff']:.2e})")
    return card


# ---------------------------------------------------------------- data location


def fetch_data(uri: str, dest: Path, *, s3: Any = None) -> list[Path]:
    """Comma-separated local folders or ``s3://bucket/prefix`` URIs (synced into ``dest``)."""
    paths: list[Path] = []
    for i, item in enumerate(u.strip() for u in uri.split(",") if u.strip()):
        if not item.startswith("s3://"):
            path = Path(item)
            if not path.is_dir():
                raise ConfigurationError(f"data folder {path} does not exist")
            paths.append(path)
            continue
        import boto3

        client = s3 or boto3.client("s3")
        bucket, _, prefix = item[5:].partition("/")
        prefix = prefix.rstrip("/") + "/" if prefix else ""
        target = Path(dest) / f"{i}-{bucket}"
        count = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                rel = obj["Key"][len(prefix):]
                if not rel or rel.endswith("/") or ".." in Path(rel).parts:
                    continue
                local = target / rel
                local.parent.mkdir(parents=True, exist_ok=True)
                if not (local.is_file() and local.stat().st_size == obj["Size"]):
                    client.download_file(bucket, obj["Key"], str(local))
                count += 1
        if count == 0:
            raise ConfigurationError(f"no objects under {item}")
        paths.append(target)
    if not paths:
        raise ConfigurationError("no data location given; set LUNGCT_DATA_URI to a folder or s3:// prefix")
    return paths


# ---------------------------------------------------------------- the job


@dataclass
class JobConfig:
    data_uri: str
    env: str = "local"
    tracking_uri: str | None = None
    work_dir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "lungct-job")
    params: Params = field(default_factory=Params)
    publish: bool = True


@dataclass
class JobResult:
    run_id: str
    version: str | None
    card: ModelCard | None
    promoted: bool
    reason: str
    published_uri: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def manifest_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def artifact_scorer(mlflow_client: Any, prepared: prepare_mod.Prepared) -> Callable[[Any], float]:
    """Re-evaluate a registered version's serving artifact (LiteRT) on this run's deduplicated evaluation set."""
    from lungct.imaging import preprocess
    from lungct.model.runtime import Classifier
    from training_job import registry
    from training_job.metrics import classification_report

    rows = prepared.evaluation(deduplicated=True)
    if not rows:
        raise LungctError("no evaluation images to re-evaluate the champion on")

    def score(version: Any) -> float:
        with tempfile.TemporaryDirectory(prefix="lungct-reeval-") as tmp:
            classifier = Classifier(registry.download(mlflow_client, version, Path(tmp)))
            x = np.stack([preprocess(Path(r.path).read_bytes(), classifier.params) for r in rows])
            preds = classifier.predict(x)
        probs = np.asarray([[p.probabilities[label] for label in LABELS] for p in preds])
        y = np.asarray([LABELS.index(r.label) for r in rows])
        return float(classification_report(y, probs, LABELS)["macro_f1"] or 0.0)

    return score


def run_job(job: JobConfig, *, progress: Progress = print, publisher: Any = None) -> JobResult:
    from training_job import registry
    from training_job.export import ParityError

    params = job.params
    work = Path(job.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    client = registry.client(job.tracking_uri)
    progress(f"mlflow: {client.tracking_uri}; environment: {job.env}")
    data_dirs = fetch_data(job.data_uri, work / "data")
    version_label = job.params.train.version or datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    with registry.TrainingRun(client, run_name=f"train-{version_label}", tags={"lungct.env": job.env}) as run:
        run.log_params({"data": {**asdict(params.data), "dirs": ",".join(job.data_uri.split(","))},
                        "train": asdict(params.train), "gate": {"tolerance": params.tolerance}})
        prepared = step_prepare(data_dirs, work / "prepare", params.data, progress=progress)
        manifest = work / "prepare" / prepare_mod.MANIFEST
        run.set_tags({"manifest_sha256": manifest_sha256(manifest),
                      "eval_manifest_sha256": prepared.eval_manifest_sha256})
        run.log_file(manifest, "data")
        run.log_file(work / "prepare" / prepare_mod.REPORT, "data")
        run.log_metrics({"data": {k: v["total"] for k, v in prepared.report.items()
                                  if isinstance(v, dict) and "total" in v}})
        result = step_train(prepared, work / "train", params.train, progress=progress)
        run.log_history(result.history)
        run.log_file(work / "train" / "model.keras", "keras")
        run.log_file(work / "train" / "train.json", "keras")
        evaluation = step_evaluate(work / "train", prepared, work / "evaluate", cam_images=params.cam_images,
                                   progress=progress)
        metrics = evaluation_mod.summary_metrics(evaluation.report)
        run.log_metrics(metrics)
        run.log_dir(work / "evaluate", "evaluation")
        try:
            card = step_export(work / "train", prepared, work / "evaluate" / evaluation_mod.METRICS,
                               work / "artifact", version=version_label, min_agreement=params.min_agreement,
                               mlflow_run_id=run.run_id, progress=progress)
        except ParityError:
            run.set_tags({"parity_passed": "false"})
            raise
        run.log_metrics({"parity": {k: v for k, v in card.parity.items() if k != "passed"}})
        run.set_tags({"parity_passed": str(bool(card.parity["passed"])).lower()})
        run.log_dir(work / "artifact", registry.SERVING_PATH)
    version = registry.register(client, run.run_id, metrics=metrics, parity_passed=bool(card.parity["passed"]),
                                artifact_sha256=card.sha256)
    progress(f"register: {registry.REGISTERED_MODEL} version {version} (alias {registry.CHALLENGER})")
    if not job.publish:
        return JobResult(run.run_id, version, card, False, "publishing disabled", metrics=metrics)
    publisher = publisher or registry.aws_publisher(job.env)
    published: dict[str, str] = {}

    def publish_and_remember(directory: Path) -> str:
        published["uri"] = publisher(directory)
        return published["uri"]

    try:
        decision = registry.promote(client, version, publisher=publish_and_remember, tolerance=params.tolerance,
                                    reevaluate=artifact_scorer(client, prepared))
    except registry.GateRefused as exc:
        progress(f"gate: version {version} stays challenger: {exc}")
        return JobResult(run.run_id, version, card, False, str(exc), metrics=metrics)
    progress(f"gate: version {version} is champion ({decision.reason}); published {published.get('uri')}")
    return JobResult(run.run_id, version, card, True, decision.reason, published.get("uri"), metrics)


def job_from_environ(environ: dict[str, str] | None = None) -> JobConfig:
    env = dict(os.environ if environ is None else environ)
    data_uri = env.get("LUNGCT_DATA_URI", "")
    params_path = env.get("LUNGCT_PARAMS")
    params = Params.load(Path(params_path)) if params_path else Params()
    if env.get("LUNGCT_WEIGHTS"):
        params.train.weights = env["LUNGCT_WEIGHTS"]
    return JobConfig(
        data_uri=data_uri,
        env=env.get("LUNGCT_ENV", "local"),
        tracking_uri=env.get("MLFLOW_TRACKING_URI") or None,
        work_dir=Path(env.get("LUNGCT_WORK_DIR") or Path(tempfile.gettempdir()) / "lungct-job"),
        params=params,
        publish=env.get("LUNGCT_PUBLISH", "1").lower() not in ("0", "false", "no"),
    )
