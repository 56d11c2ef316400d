"""Dockerfile.train, checked without a Docker engine: what it copies exists, what it runs imports."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile.train"


def instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [(m.group(1).upper(), m.group(2).strip()) for m in re.finditer(r"^(\w+)\s+(.*)$", text, re.M)
            if not m.group(0).startswith("#")]


def test_base_image_is_a_pinned_tensorflow_gpu_release_inside_the_pyproject_range():
    [base] = [arg for op, arg in instructions() if op == "FROM"]
    match = re.fullmatch(r"tensorflow/tensorflow:2\.(\d+)\.\d+-gpu", base)
    assert match and 18 <= int(match.group(1)) < 22, base


def test_copied_paths_exist_and_the_entrypoint_is_the_job_as_a_non_root_user():
    ops = instructions()
    for op, arg in ops:
        if op == "COPY":
            for src in arg.split()[:-1]:
                assert (ROOT / src).exists(), src
    assert ("ENTRYPOINT", '["python", "-m", "training_job"]') in ops
    users = [arg for op, arg in ops if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    from training_job.__main__ import main

    assert callable(main)


def test_hadolint_is_clean():
    hadolint = shutil.which("hadolint") or str(Path(__import__("sys").executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (the dev extra brings it)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
