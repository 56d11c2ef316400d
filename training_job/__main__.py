"""``python -m training_job``: the AWS Batch entry point, and the DVC stages.

Job (no stage name): prepare -> train -> evaluate -> export -> register -> gate -> publish, configured by
``LUNGCT_DATA_URI`` (folder or ``s3://`` prefix, comma-separated for several), ``LUNGCT_ENV``,
``MLFLOW_TRACKING_URI``, ``LUNGCT_PARAMS`` (a params.yaml), ``LUNGCT_WEIGHTS``; flags override them.

Stages (``prepare``, ``train``, ``evaluate``, ``export``): one step each, reading ``params.yaml``
and writing under ``out/``, as ``dvc.yaml`` runs them.

Exits 1 with one line on stderr when something fails.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Sequence

STAGES = ("prepare", "train", "evaluate", "export")


def _parse_value(raw: str) -> Any:
    import yaml

    return yaml.safe_load(raw)


def apply_overrides(params: Any, overrides: Sequence[str]) -> None:
    """``section.key=value`` (e.g. ``train.epochs=2``) onto a :class:`Params`."""
    from lungct.errors import ConfigurationError

    scalars = {"gate.tolerance": "tolerance", "evaluate.cam_images": "cam_images", "export.min_agreement": "min_agreement"}
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, _, name = key.partition(".")
        if sep and key in scalars:
            setattr(params, scalars[key], _parse_value(raw))
            if key == "export.min_agreement":
                params.train.min_agreement = params.min_agreement
            continue
        target = {"data": params.data, "train": params.train}.get(section)
        if not sep or target is None or not hasattr(target, name):
            raise ConfigurationError(
                f"--set {item!r}: expected data.KEY=VALUE, train.KEY=VALUE (known keys) or one of {sorted(scalars)}"
            )
        setattr(target, name, _parse_value(raw))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training_job", description=__doc__.split("\n\n")[0])
    p.add_argument("stage", nargs="?", choices=STAGES, help="run one DVC stage instead of the whole job")
    p.add_argument("--params", type=Path, default=None,
                   help="params.yaml (stages: default ./params.yaml; job: $LUNGCT_PARAMS or built-in defaults)")
    p.add_argument("--out", type=Path, default=Path("out"), help="stages: output folder (default: out)")
    p.add_argument("--data", default=None, help="job: data folder(s) or s3:// prefix (default: $LUNGCT_DATA_URI)")
    p.add_argument("--env", default=None, help="job: environment to publish to (default: $LUNGCT_ENV or local)")
    p.add_argument("--tracking-uri", default=None, help="job: MLflow tracking URI (default: $MLFLOW_TRACKING_URI "
                   "or sqlite under $LUNGCT_HOME)")
    p.add_argument("--work-dir", type=Path, default=None, help="job: scratch folder (default: $LUNGCT_WORK_DIR)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a parameter, e.g. --set train.epochs=2 (repeatable)")
    p.add_argument("--no-publish", action="store_true", help="job: register but do not gate or publish")
    return p


def run_stage(stage: str, params_path: Path, out: Path, overrides: Sequence[str]) -> None:
    from training_job import pipeline
    from training_job import prepare as prepare_mod

    params = pipeline.Params.load(params_path)
    apply_overrides(params, overrides)
    if stage == "prepare":
        pipeline.step_prepare([Path(d) for d in params.data.dirs], out / "prepare", params.data)
        return
    prepared = prepare_mod.read(out / "prepare")
    if stage == "train":
        pipeline.step_train(prepared, out / "train", params.train)
    elif stage == "evaluate":
        pipeline.step_evaluate(out / "train", prepared, out / "evaluate", cam_images=params.cam_images)
    else:
        pipeline.step_export(out / "train", prepared, out / "evaluate" / "metrics.json", out / "artifact",
                             version=params.train.version or "dvc", min_agreement=params.min_agreement)


def run_job(args: argparse.Namespace) -> int:
    from lungct.config import validate_env
    from training_job import pipeline

    environ = dict(os.environ)
    if args.params:
        environ["LUNGCT_PARAMS"] = str(args.params)
    job = pipeline.job_from_environ(environ)
    apply_overrides(job.params, args.overrides)
    job.data_uri = args.data or job.data_uri
    job.env = args.env or job.env
    job.tracking_uri = args.tracking_uri or job.tracking_uri
    job.work_dir = args.work_dir or job.work_dir
    job.publish = job.publish and not args.no_publish
    validate_env(job.env)
    result = pipeline.run_job(job)
    state = "champion" if result.promoted else "challenger"
    print(f"training job done: version {result.version} is {state} ({result.reason})", flush=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = build_parser().parse_args(argv)
    try:
        if args.stage:
            run_stage(args.stage, args.params or Path("params.yaml"), args.out, args.overrides)
            return 0
        return run_job(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the Batch log's last line says what failed, in one line
        from lungct.errors import LungctError

        kind = "" if isinstance(exc, LungctError) else f"{type(exc).__name__}: "
        message = " ".join(str(exc).split())
        print(f"training job failed: {kind}{message}", file=sys.stderr, flush=True)
        if os.environ.get("LUNGCT_DEBUG"):
            raise
        return 1


if __name__ == "__main__":
    sys.exit(main())
