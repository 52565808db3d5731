# Steward: two commands for a newcomer (make run, make test); the rest for the team.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)
export MLFLOW_DISABLE_TELEMETRY := true
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: install run test test-fast lint bench clean help

help:
	@echo "make run    - install (first time), start Temporal dev server + worker + API/console"
	@echo "make test   - install (first time), lint, run the whole test suite"
	@echo "make bench  - benchmarks, JSON under bench/results/"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q "setuptools>=68" wheel
	$(PIP) install --disable-pip-version-check -q -r requirements.lock
	$(PIP) install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/steward up

lint: install
	$(VENV)/bin/ruff check runtime agents tools guards server evals tests bench
	$(VENV)/bin/ruff format --check runtime agents tools guards server evals tests bench

test: install lint
	$(PY) -m pytest -q -p no:cacheprovider tests

test-fast: install
	$(PY) -m pytest -q -x tests/unit

bench: install
	$(PY) bench/runtime_bench.py
	@for b in bench/llm_bench.py bench/server_bench.py bench/guards_bench.py bench/evals_bench.py; do \
		if [ -f $$b ]; then $(PY) $$b || exit 1; fi; done

clean:
	rm -rf .steward .pytest_cache
