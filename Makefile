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

# --- infrastructure (CDK): the CLI comes from package.json, the app runs on the venv's python ---
CDK_ENVS ?= dev prod
NODE_STAMP := node_modules/.installed
# jsii warns loudly on every call when Node 20 is past its end of life; the warning is not actionable here.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION ?= 20

$(NODE_STAMP): package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

synth: install $(NODE_STAMP)
	rm -rf cdk.out
	for env in $(CDK_ENVS); do \
	  PATH="$(abspath $(VENV))/bin:$$PATH" npx --no-install cdk synth -c env=$$env --quiet -o cdk.out/$$env || exit 1; \
	done

# W3005 (redundant DependsOn) comes from CDK-generated resources and is harmless.
lint: install synth
	$(VENV)/bin/hadolint Dockerfile.lambda Dockerfile.train
	$(VENV)/bin/cfn-lint --ignore-checks W3005 -- cdk.out/*/*/*.template.json

# Serving and end-to-end benchmarks (minutes; never part of `make test`). A model trained with
# benchmarks/train_scratch.py is used when present (out/scratch/serving.keras), else a random-initial one.
BENCH_MODEL ?= out/scratch/serving.keras
bench: install
	$(PY) benchmarks/serving.py --model $(BENCH_MODEL) --json out/bench/serving.json
	$(PY) benchmarks/pipeline.py --artifact out/bench/published --images 200 --json out/bench/pipeline.json
