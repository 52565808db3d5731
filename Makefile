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
# llama.cpp is compiled portable (AVX2/FMA/F16C), not for the build machine's CPU: a native build on a VM
# that announces Intel AMX died with SIGILL at the first matrix multiply (runtime/llm/cpucheck.py).
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_PIN := $(shell grep -i '^llama[-_]cpp[-_]python==' requirements.lock)

.PHONY: install run test test-fast lint bench eval-smoke clean help

help:
	@echo "make run    - install (first time), start Temporal dev server + worker + API/console"
	@echo "make test   - install (first time), lint, run the whole test suite"
	@echo "make bench  - benchmarks, JSON under bench/results/"
	@echo "make eval-smoke - the smoke eval suite through the release gate (CI)"

$(STAMP): requirements.lock pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q "setuptools>=68" wheel
	$(PIP) install --disable-pip-version-check -q -r requirements.lock
	$(PIP) install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@$(PY) -m runtime.llm.cpucheck || { \
	  echo "rebuilding $(LLAMA_PIN) portable, without pip's cache (CMAKE_ARGS=$$CMAKE_ARGS)"; \
	  $(PIP) install --disable-pip-version-check -q --no-cache-dir --force-reinstall --no-deps \
	    --no-binary llama-cpp-python "$(LLAMA_PIN)" && $(PY) -m runtime.llm.cpucheck; }
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

run: install
	$(VENV)/bin/steward up

lint: install
	$(VENV)/bin/ruff check runtime agents tools guards server evals tests bench
	$(VENV)/bin/ruff format --check runtime agents tools guards server evals tests bench
	$(PY) bench/readme_table.py --check
	$(VENV)/bin/mypy runtime agents tools guards server evals bench

test: install lint
	$(PY) -m pytest -q -p no:cacheprovider tests

test-fast: install
	$(PY) -m pytest -q -x tests/unit

bench: install
	$(PY) bench/runtime_bench.py
	@for b in bench/llm_bench.py bench/server_bench.py bench/guards_bench.py bench/evals_bench.py bench/peer_bench.py bench/agents_bench.py bench/chat_bench.py; do \
		if [ -f $$b ]; then $(PY) $$b || exit 1; fi; done

# The CI smoke eval: a fresh home (its own Temporal state and MLflow store), the shipped loan_triage through
# the real runtime with its model (the embedded model server, started and stopped by the eval: the model only
# explains, so a slow CPU costs time, not results; hence the roomy case timeout), then the release gate (no
# champion in a fresh store: thresholds only).
eval-smoke: install
	@home=$$(mktemp -d); \
	STEWARD_HOME=$$home $(VENV)/bin/steward eval run evals/suites/smoke.jsonl --assistant loan_triage \
		--eval-run-id ev-smoke-ci --no-traces --case-timeout 300 && \
	STEWARD_HOME=$$home $(VENV)/bin/steward eval gate ev-smoke-ci --min pass_rate=1.0 --min outcome_accuracy=1.0; \
	rc=$$?; rm -rf $$home; exit $$rc

clean:
	rm -rf .steward .pytest_cache
