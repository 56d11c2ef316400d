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
