# Every workflow is a target; `make help` (the default goal) lists them.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0
REPO ?= model_repository
SPEC ?= models.yaml
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# torch is installed first and pinned, by uv: PyPI's torch brings several GB of CUDA libraries, and
# uv keeps one copy per machine in its cache (~/.cache/uv) and hard-links it into every venv that
# pins the same release (.venv, .venv-peers, the Python peers' venvs). pip's own cache stays empty
# here (the registry's answers are not cacheable), so every pip-installed venv downloaded it again.
UV_PIN := uv==0.13.10
UV := $(VENV)/bin/uv
$(UV):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q $(UV_PIN)

# TORCH_INSTALL PYTHON PACKAGES: torch (and what is pinned with it) from uv's shared cache
TORCH_INSTALL = $(UV) pip install -q --python
# (defined before mk/*.mk: their rules name $(UV) as a prerequisite, expanded as they are read)

# Each area's targets live in mk/<area>.mk (build, serve, chart, loadtest, bench); included here,
# before the rules below, so their variables (e.g. CHECKOV_VENV) can be prerequisites.
include $(sort $(wildcard mk/*.mk))

.PHONY: help install models check demo test test-unit test-integration test-gpu lint clean

help: ## list every target
	@awk 'BEGIN {FS = ":.*?## "} /^[a-zA-Z0-9_-]+:.*?## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(VENV)/.installed ## create .venv and install everything from the registries

$(VENV)/.installed: pyproject.toml | $(UV)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(TORCH_INSTALL) $(PY) $(TORCH_PIN)
	$(PY) -m pip install -q -e '.[serve,examples,loadtest,chart,storage,dev,torchserve]' $(TORCH_PIN)
	touch $@

models: install ## export the example models from models.yaml into model_repository/ (parity-checked)
	$(BIN)/tritonctl build $(SPEC) --repository $(REPO)

check: install ## lint model_repository/ offline and check configs for drift against models.yaml
	$(BIN)/tritonctl check $(REPO) --spec $(SPEC)

test: install $(CHECKOV_VENV)/.installed $(PEERS_VENV)/.installed ## run the whole suite (unit, chart, integration with a real Triton); GPU tests skip without CUDA
	$(PY) -m pytest -q

test-unit: install ## unit tests only (no server)
	$(PY) -m pytest -q tests/unit

test-integration: install ## integration tests against a real local Triton
	$(PY) -m pytest -q -m integration

test-gpu: install ## GPU tests (need an NVIDIA GPU)
	$(PY) -m pytest -q -m gpu

clean: ## remove build outputs (weights, reports), keep configs
	find $(REPO) -mindepth 2 -maxdepth 2 -type d -regex '.*/[0-9]+' -exec rm -rf {} +
	rm -rf reports .pytest_cache
