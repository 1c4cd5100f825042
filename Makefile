# NEXUS Edge — every target bootstraps what it needs: Debian packages (as root), a venv, the packages.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DURATION ?= 30
PYTEST_ARGS ?=

.PHONY: help bootstrap system venv demo test test-unit lint format clean bench-ingest

help:
	@echo "make demo      run a simulated plant end to end (DURATION=$(DURATION) seconds)"
	@echo "make test      run the whole test suite (real Mosquitto, PostgreSQL, pymodbus)"
	@echo "make lint      ruff + mypy"
	@echo "make bench-ingest  points/s through broker + ingest vs raw COPY"
	@echo "make bootstrap install Debian packages and the virtual environment only"
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
