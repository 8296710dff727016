# Every target sets up what it needs: a fresh clone needs only `make test` or `make run`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin
PYTHON ?= python3
STACK = eval "$$(deploy/stack.sh env)"

.PHONY: help install lock lint test images image run demo observe bench bench-sdk bench-gateway bench-auth chaos stop clean schemas

help:
	@echo "make test    lint, then every unit and integration test (sets up everything)"
	@echo "make run     start Kafka + MongoDB-protocol containers, the worker, the gateway and the lag exporter (Ctrl-C stops all)"
	@echo "make demo    the real flow end to end through the badges CLI"
	@echo "make observe Prometheus (alert rules loaded) scraping a running make run stack; prints its URL"
	@echo "make install virtualenv with the package and its dev tools, from requirements/dev.lock"
	@echo "make lock    regenerate requirements/*.lock from the pyproject files (UPGRADE=1: newest allowed)"
	@echo "make lint    ruff and mypy"
	@echo "make images  build the local Kafka and FerretDB images if missing"
	@echo "make image   build the worker image localhost/badges-worker:<version> if missing"
	@echo "make schemas regenerate schemas/generated from the models and the gateway"
	@echo "make bench   the worker against its baselines, every answer checked: table, .state/bench/latest.json and .png (FULL=1: larger runs and a 1M-command soak)"
	@echo "make bench-sdk the Python client: send_many vs one send at a time, RSS over 1M results"
	@echo "make bench-gateway  the gateway's latency against the SDK's at 300/s, then its peak"
	@echo "make bench-auth     valid callers' latency alone and under 200 wrong passwords/s"
	@echo "make chaos   10,000 commands under kills, broker restarts, a DB outage and a zombie, checked"
	@echo "make stop    stop every container and process the project started"
	@echo "make clean   stop, then remove the virtualenv, data and build state"

install: $(BIN)/.installed

# Third-party packages only from the lock, each file checked against its hash (pip, setuptools
# and wheel too); then the three local projects from the tree with --no-deps, so badges-schemas
# and badges-sdk are never looked up on an index.
$(BIN)/.installed: pyproject.toml schemas/pyproject.toml service/client/pyproject.toml \
		requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --only-binary :all: -r requirements/dev.lock
	$(BIN)/pip install -q --no-deps --no-build-isolation -e schemas -e service/client -e '.[dev]'
	$(BIN)/pip check
	touch $@

# The locks, for CPython 3.11 on Linux x86_64, from requirements/*.in (which name the
# pyproject files); versions already locked are kept unless UPGRADE=1.
LOCK_TOOL := .state/lock-tool
UV_COMPILE = $(LOCK_TOOL)/bin/uv pip compile -q --generate-hashes \
	--custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade,) \
	--python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--no-emit-package badges-schemas --no-emit-package badges-sdk --no-emit-package badges-service

lock: $(LOCK_TOOL)/.installed
	$(UV_COMPILE) -o requirements/dev.lock requirements/dev.in
	$(UV_COMPILE) -o requirements/runtime.lock requirements/runtime.in
	$(UV_COMPILE) -o requirements/tools.lock requirements/tools.in

$(LOCK_TOOL)/.installed: requirements/tools.lock
	$(PYTHON) -m venv $(LOCK_TOOL)
	$(LOCK_TOOL)/bin/pip install -q --require-hashes --only-binary :all: -r requirements/tools.lock
	touch $@

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(STACK) && $(BIN)/pytest

images:
	$(STACK) >/dev/null

image: install
	eval "$$(deploy/engine.sh env)" && deploy/worker/build.sh

schemas: install
	$(BIN)/python -m badges_schemas.export
	$(BIN)/python -m service.gateway.openapi

run: install
	$(STACK) && deploy/run.sh

demo: install
	$(STACK) && deploy/demo.sh

observe:
	deploy/observe.sh

bench: install
	$(STACK) && $(BIN)/python -m tests.benchmarks $(if $(FULL),--full,)

bench-sdk: install
	$(STACK) && $(BIN)/python -m tests.benchmarks.sdk

bench-gateway: install
	$(STACK) && $(BIN)/python -m tests.benchmarks.gateway

bench-auth: install
	$(STACK) && $(BIN)/python -m tests.benchmarks.auth_flood

chaos: install
	$(STACK) && $(BIN)/python -m tests.chaos && \
	BADGES_FUZZ_COUNT=10000 $(BIN)/pytest -q tests/integration/test_live_fuzz.py

stop:
	deploy/engine.sh stop

clean: stop
	deploy/run.sh purge
	rm -rf $(VENV) .state .pytest_cache .mypy_cache .ruff_cache *.egg-info
