# lungct: `make demo` runs the main job on a fresh clone, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: install demo test bench synth lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[infer,train,infra,dev]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/lungct demo

test: install
	$(PY) -m pytest

clean:
	rm -rf .lungct cdk.out .pytest_cache

# Serving and end-to-end benchmarks (minutes; never part of `make test`). A model trained with
# benchmarks/train_scratch.py is used when present (out/scratch/serving.keras), else a random-initial one.
BENCH_MODEL ?= out/scratch/serving.keras
bench: install
	$(PY) benchmarks/serving.py --model $(BENCH_MODEL) --json out/bench/serving.json
	$(PY) benchmarks/pipeline.py --artifact out/bench/published --images 200 --json out/bench/pipeline.json
