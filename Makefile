# NEXUS Edge — every target bootstraps what it needs: Debian packages (as root), a venv, the packages.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DURATION ?= 30
PYTEST_ARGS ?=
BENCH_FLEET_ARGS ?=

.PHONY: help bootstrap system venv demo test test-unit lint format clean bench-ingest bench-gateway bench-fleet bench

help:
	@echo "make demo      run a simulated plant end to end (DURATION=$(DURATION) seconds)"
	@echo "make test      run the whole test suite (real Mosquitto, PostgreSQL, pymodbus)"
	@echo "make lint      ruff + mypy"
	@echo "make bench-ingest  points/s through broker + ingest vs raw COPY"
	@echo "make bench-gateway tags/s and CPU per protocol vs the raw client libraries"
	@echo "make bench-fleet   one twin fleet of 1,000 Modbus + 100 OPC UA + 200 S7 devices: start-up, RSS, requests/s vs the plain library servers"
	@echo "make bench     every benchmark"
	@echo "make bootstrap install Debian packages and the virtual environment only"
	@echo "make load-smoke  a short headless Locust run against the local stack (JSON summary)"
	@echo "make validate-deploy  render and validate deploy/ offline"
	@echo "make images    build the container images (needs Docker)"
	@echo "make chaos     chaos runs against a kind cluster (needs Docker, kind, kubectl)"

bootstrap: system venv

system:
	@bash scripts/bootstrap.sh

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

demo: system venv
	$(BIN)/nexus demo --duration $(DURATION)

test: system venv
	$(BIN)/pytest $(PYTEST_ARGS)

# Benchmarks print the project's figure, a baseline measured in the same run, and their ratio.
bench-ingest: system venv
	$(BIN)/python -m bench.ingest

bench-gateway: system venv
	$(BIN)/python -m bench.gateway

bench-fleet: system venv
	$(BIN)/python -m bench.fleet $(BENCH_FLEET_ARGS)

bench: bench-ingest bench-gateway bench-fleet

test-unit: venv
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf .run .mypy_cache .ruff_cache .pytest_cache

# --- Deployment (deploy/, docs/deployment.md) ---------------------------------------------------
IMAGE_PREFIX ?= nexus-edge
IMAGE_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

.PHONY: images chaos validate-deploy

# Container images: nexus (gateway + ingest), twin, and load (when load/locustfile.py exists).
images:
	@command -v docker >/dev/null 2>&1 || { echo "make images: docker is not installed: https://docs.docker.com/engine/install/" >&2; exit 2; }
	@docker info >/dev/null 2>&1 || { echo "make images: the Docker daemon is not reachable (is it running, and may this user use it?)" >&2; exit 2; }
	docker build -f deploy/docker/nexus.Dockerfile -t $(IMAGE_PREFIX)/nexus:$(IMAGE_TAG) .
	docker build -f deploy/docker/twin.Dockerfile -t $(IMAGE_PREFIX)/twin:$(IMAGE_TAG) .
	@if [ -f load/locustfile.py ]; then \
		docker build -f deploy/docker/load.Dockerfile -t $(IMAGE_PREFIX)/load:$(IMAGE_TAG) . ; \
	else \
		echo "make images: load/locustfile.py does not exist yet: the load image is skipped"; \
	fi

# Chaos timelines against a kind cluster (needs docker, kind, kubectl; KEEP=1 keeps the cluster).
chaos: venv
	PYTHON=$(abspath $(BIN))/python bash chaos/kind/run.sh

# Offline checks of deploy/: kustomize rendering, API schemas, policies, Compose, Dockerfiles.
validate-deploy: venv
	$(BIN)/pytest tests/deploy $(PYTEST_ARGS)

# --- Load (load/, docs/load-testing.md) ----------------------------------------------------------
LOAD_ARGS ?=
LOCUST_ARGS ?=

.PHONY: load-smoke load-fleet load

# A short headless device swarm (≤ 60 s) against a private local stack + ingest; JSON last line.
load-smoke: system venv
	$(BIN)/python -m load.smoke $(LOAD_ARGS)

# The twin fleet and the gateway's device list grown step by step: poll latency, missed deadlines.
load-fleet: system venv
	$(BIN)/python -m load.fleet $(LOAD_ARGS)

# Locust's web UI on http://127.0.0.1:8089 against the stack and ingest of this shell's NEXUS_*.
load: venv
	@test -n "$$NEXUS_MQTT_PORT" || { echo 'make load: no broker in the environment; first: eval "$$(.venv/bin/nexus stack up)" and .venv/bin/nexus ingest run --http-port 8082 & (docs/load-testing.md)' >&2; exit 2; }
	$(BIN)/locust -f load/locustfile.py --web-host 127.0.0.1 $(LOCUST_ARGS)
