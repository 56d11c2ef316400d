"""The training job end to end: prepare -> train -> evaluate -> export -> register -> gate -> publish.

One real run (VGG16, random initial weights, 32 px, 2 + 1 epochs) against a temporary MLflow store
and the embedded AWS, shared by the tests in this module.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lungct.model.artifact import load_card

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def job(planted_dataset, embedded_aws, tmp_path_factory):
    from training_job.__main__ import main

    root, _ = planted_dataset
    work = tmp_path_factory.mktemp("job")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    rc = main([
        "--data", str(root), "--env", "local", "--tracking-uri", uri, "--work-dir", str(work / "scratch"),
        "--set", "train.image_size=32", "--set", "train.epochs=2", "--set", "train.fine_tune_epochs=1",
        "--set", "train.weights=none", "--set", "train.batch_size=8", "--set", "train.version=job-1",
    ])
    ctx = embedded_aws.context()
    return {"rc": rc, "work": work / "scratch", "uri": uri, "ctx": ctx}


@pytest.fixture(scope="module")
def mlflow_client(job):
    from training_job import registry

    return registry.client(job["uri"])


def pointer(ctx) -> str:
    return ctx.client("ssm").get_parameter(Name=ctx.names.model_parameter)["Parameter"]["Value"]


def test_the_job_writes_every_stage_output_and_publishes_the_first_champion(job, mlflow_client):
    from training_job import registry

    assert job["rc"] == 0
    work = job["work"]
    for rel in ("prepare/manifest.jsonl", "prepare/dedup.json", "train/model.keras", "train/history.csv",
                "evaluate/metrics.json", "evaluate/confusion_matrix.png", "evaluate/roc.png",
                "evaluate/cam_grid.png", "artifact/model.json", "artifact/head.npz"):
        assert (work / rel).is_file(), rel
    champion = registry.champion(mlflow_client)
    assert champion is not None and str(champion.version) == "1"
    assert pointer(job["ctx"]).endswith("/models/lungct-vgg16/job-1/")
    card = load_card(work / "artifact")
    assert card.parity["passed"] and card.parity["top1_agreement"] >= 0.99 and "max_abs_prob_diff" in card.parity
    assert card.mlflow_run_id == champion.run_id and card.head_file == "head.npz"
    assert card.metrics["eval_manifest_sha256"] == champion.tags["eval_manifest_sha256"]


def test_metrics_json_agrees_with_the_confusion_matrix_it_reports(job):
    metrics = json.loads((job["work"] / "evaluate" / "metrics.json").read_text())
    for form in ("as_given", "deduplicated"):
        m = metrics[form]
        cm = np.asarray(m["confusion_matrix"])
        assert cm.sum() == m["images"] == 20
        assert m["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
        sens = [cm[i, i] / cm[i].sum() for i in range(4)]
        assert m["balanced_accuracy"] == pytest.approx(np.mean(sens))
        assert set(m["per_class"]) == {"adenocarcinoma", "large_cell_carcinoma", "normal", "squamous_cell_carcinoma"}


def test_the_run_logs_params_epochs_data_report_plots_and_both_models(job, mlflow_client):
    champion = mlflow_client.get_model_version("lungct-vgg16", "1")
    run = mlflow_client.get_run(champion.run_id)
    assert run.data.params["train.image_size"] == "32" and "manifest_sha256" in run.data.tags
    assert len(mlflow_client.get_metric_history(run.info.run_id, "phase1_loss")) == 2
    assert "dedup_macro_f1" in run.data.metrics
    logged = {f.path for f in mlflow_client.list_artifacts(run.info.run_id)}
    assert {"data", "keras", "evaluation", "serving"} <= logged
    assert {Path(f.path).name for f in mlflow_client.list_artifacts(run.info.run_id, "data")} == {
        "manifest.jsonl", "dedup.json"}


def test_a_worse_challenger_is_not_promoted(job, mlflow_client):
    from training_job import registry

    champion = registry.champion(mlflow_client)
    before = pointer(job["ctx"])
    worse = float(champion.tags["dedup_macro_f1"]) - 0.2
    version = registry.register(mlflow_client, champion.run_id, parity_passed=True, metrics={
        "dedup_macro_f1": worse, "eval_manifest_sha256": champion.tags["eval_manifest_sha256"]})
    with pytest.raises(registry.GateRefused, match="keeping the champion"):
        registry.promote(mlflow_client, version, publisher=registry.aws_publisher("local"))
    assert str(registry.champion(mlflow_client).version) == str(champion.version)
    assert str(mlflow_client.get_model_version_by_alias("lungct-vgg16", "challenger").version) == version
    assert pointer(job["ctx"]) == before


def test_a_tampered_artifact_is_refused_and_not_published(job, mlflow_client, tmp_path):
    from lungct.errors import ArtifactError
    from training_job import registry

    champion = registry.champion(mlflow_client)
    before = pointer(job["ctx"])
    tampered = tmp_path / "serving"
    shutil.copytree(job["work"] / "artifact", tampered)
    card = json.loads((tampered / "model.json").read_text())
    card["version"] = "tampered"
    (tampered / "model.json").write_text(json.dumps(card))
    with (tampered / "model.tflite").open("r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00\x01\x02\x03")
    with registry.TrainingRun(mlflow_client, run_name="tampered") as run:
        run.log_dir(tampered, registry.SERVING_PATH)
    version = registry.register(mlflow_client, run.run_id, parity_passed=True, metrics={
        "dedup_macro_f1": 1.0, "eval_manifest_sha256": champion.tags["eval_manifest_sha256"]})
    with pytest.raises(ArtifactError, match="sha256"):
        registry.promote(mlflow_client, version, publisher=registry.aws_publisher("local"))
    assert str(registry.champion(mlflow_client).version) == str(champion.version)
    assert pointer(job["ctx"]) == before
    s3 = job["ctx"].client("s3")
    listed = s3.list_objects_v2(Bucket=job["ctx"].names.artifacts_bucket, Prefix="models/lungct-vgg16/tampered/")
    assert listed.get("KeyCount", 0) == 0


def test_an_export_that_fails_parity_writes_no_card(job):
    from training_job import pipeline, prepare
    from training_job.export import ParityError

    work = job["work"]
    out = work / "parity-fail"
    with pytest.raises(ParityError, match="not publishing"):
        pipeline.step_export(work / "train", prepare.read(work / "prepare"), work / "evaluate" / "metrics.json",
                             out, version="x", min_agreement=1.01, progress=lambda line: None)
    assert not (out / "model.json").exists()


def test_cli_lists_promotes_by_force_and_rolls_back(job, mlflow_client, capsys):
    from lungct.cli import main
    from training_job import registry

    champion = str(registry.champion(mlflow_client).version)
    version = registry.register(mlflow_client, registry.champion(mlflow_client).run_id, parity_passed=True,
                                metrics={"dedup_macro_f1": 0.0, "eval_manifest_sha256": "another-manifest"})
    uri = ["--tracking-uri", job["uri"], "--env", "local"]
    assert main(["models", "promote", version, *uri]) == 2  # refused: not comparable
    assert "not comparable" in capsys.readouterr().err
    assert main(["models", "promote", version, "--force", *uri]) == 0
    assert str(registry.champion(mlflow_client).version) == version
    assert main(["models", "list", "--tracking-uri", job["uri"]]) == 0
    listing = capsys.readouterr().out
    assert "champion" in listing and "challenger" in listing
    assert main(["models", "rollback", *uri]) == 0
    assert str(registry.champion(mlflow_client).version) == champion
    assert main(["models", "rollback", *uri]) == 2  # nothing earlier than the first champion


def test_the_job_fails_with_one_line_when_the_data_is_missing(tmp_path, capsys):
    from training_job.__main__ import main

    rc = main(["--data", str(tmp_path / "nowhere"), "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}",
               "--work-dir", str(tmp_path / "w")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and err[-1].startswith("training job failed:") and "nowhere" in err[-1]


def test_the_prepare_stage_reads_params_yaml(planted_dataset, tmp_path):
    from training_job.__main__ import main

    root, _ = planted_dataset
    params = tmp_path / "params.yaml"
    params.write_text(f"data:\n  dirs: ['{root}']\ntrain:\n  image_size: 32\n")
    assert main(["prepare", "--params", str(params), "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "prepare" / "dedup.json").read_text())
    assert report["excluded"]["conflicting_labels"] == 2


def test_re_evaluating_a_champion_artifact_on_the_same_manifest_gives_its_recorded_score(job, mlflow_client):
    from training_job import pipeline, prepare, registry

    champion = mlflow_client.get_model_version("lungct-vgg16", "1")
    score = pipeline.artifact_scorer(mlflow_client, prepare.read(job["work"] / "prepare"))(champion)
    assert score == pytest.approx(float(champion.tags["dedup_macro_f1"]), abs=1e-6)
    assert registry.GATE_METRIC in champion.tags
