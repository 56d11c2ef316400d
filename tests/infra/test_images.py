"""Dockerfiles and code bundles: linted, complete, and free of what the serving path must not carry."""
from __future__ import annotations

import glob
import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra_support import REPO_ROOT

pytestmark = pytest.mark.infra

LAMBDA_DOCKERFILE = REPO_ROOT / "Dockerfile.lambda"
TRAIN_DOCKERFILE = REPO_ROOT / "Dockerfile.train"
SERVING_FORBIDDEN = ("tensorflow", "keras", "mlflow", "dvc")


def hadolint() -> str | None:
    candidate = Path(sys.executable).parent / "hadolint"
    return str(candidate) if candidate.exists() else shutil.which("hadolint")


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            pairs.append((keyword.upper(), rest.strip()))
    return pairs


def copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for keyword, rest in instructions(dockerfile):
        if keyword in ("COPY", "ADD"):
            args = [a for a in (json.loads(rest) if rest.startswith("[") else rest.split()) if not a.startswith("--")]
            sources.extend(args[:-1])
    return sources


def dockerignore_allows(path: str) -> bool:
    """Enough of .dockerignore semantics for an allow-list file: last matching rule wins."""
    allowed = True
    for raw in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        rule = raw.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").rstrip("/")
        if pattern == "*" or path.rstrip("/") == pattern or path.startswith(pattern + "/"):
            allowed = negate
    return allowed


@pytest.mark.parametrize("dockerfile", [LAMBDA_DOCKERFILE, TRAIN_DOCKERFILE], ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile):
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint binary not installed")
    result = subprocess.run([binary, str(dockerfile)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", [LAMBDA_DOCKERFILE, TRAIN_DOCKERFILE], ids=lambda p: p.name)
def test_every_copied_file_exists_and_is_in_the_build_context(dockerfile):
    sources = copy_sources(dockerfile)
    assert sources
    for source in sources:
        assert glob.glob(str(REPO_ROOT / source)), f"{dockerfile.name} copies {source}, which does not exist"
        assert dockerignore_allows(source), f"{dockerfile.name} copies {source}, which .dockerignore excludes"


def test_lambda_image_installs_only_the_serving_runtime():
    steps = instructions(LAMBDA_DOCKERFILE)
    assert steps[0] == ("FROM", "public.ecr.aws/lambda/python:3.11")
    runs = " ".join(rest for keyword, rest in steps if keyword == "RUN").lower()
    assert "[infer]" in runs
    for forbidden in SERVING_FORBIDDEN + ("[train]", "[dev]"):
        assert forbidden not in runs
    copied = " ".join(copy_sources(LAMBDA_DOCKERFILE))
    assert "training_job" not in copied


def test_lambda_image_handler_imports():
    (cmd,) = [json.loads(rest) for keyword, rest in instructions(LAMBDA_DOCKERFILE) if keyword == "CMD"]
    module_name, _, attribute = cmd[0].rpartition(".")
    assert module_name == "lambda_infer.handler"
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute))


def test_infer_extra_carries_no_tensorflow():
    import tomllib

    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert not [d for d in extras["infer"] if any(f in d.lower() for f in SERVING_FORBIDDEN)]


def test_api_bundle_imports_with_stdlib_and_boto3_only():
    """The zip function gets lungct/ and lambda_infer/ only; its handler must import without numpy etc."""
    from infra.api import API_PACKAGES, api_code_bundle

    bundle = api_code_bundle()
    assert sorted(p.name for p in bundle.iterdir()) == sorted(API_PACKAGES)
    blocker = (
        "import sys, importlib.abc\n"
        "BLOCKED = {'numpy', 'PIL', 'pydicom', 'tensorflow', 'ai_edge_litert', 'keras', 'mlflow'}\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError(f'{name} is not available in the API function')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import lambda_infer.api as api\n"
        "assert callable(api.handler)\n"
        "assert api.__file__.startswith(sys.argv[1]), api.__file__\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", blocker, str(bundle)],
        cwd=bundle, env={"PYTHONPATH": str(bundle), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr


def test_synthesis_stages_docker_contexts_without_building(synthesized):
    """Docker image assets are only copied into cdk.out at synth; `cdk deploy` builds them."""
    manifests = list(synthesized.outdir.glob("assembly-*/*.assets.json"))
    dockerfiles = {}
    for manifest in manifests:
        for asset in json.loads(manifest.read_text()).get("dockerImages", {}).values():
            dockerfiles[asset["source"]["dockerFile"]] = manifest.parent / asset["source"]["directory"]
    assert set(dockerfiles) == {"Dockerfile.lambda", "Dockerfile.train"}
    for directory in dockerfiles.values():
        names = {p.name for p in directory.iterdir()}
        assert {"lungct", "lambda_infer", "pyproject.toml", "Dockerfile.lambda"} <= names
        assert not names & {".venv", "node_modules", "cdk.out", ".git", "tests", "data"}
