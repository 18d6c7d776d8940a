# Chart workflows: helm/triton rendered, linted and tested with Helm's own engine
# (helm-python-sdk in .venv; no helm binary), checkov in its own venv (it pins many packages).
CHART_DIR := helm/triton
CHECKOV_VENV ?= .venv-checkov
CHECKOV_PIN ?= checkov==3.3.30
CHECKOV := $(CHECKOV_VENV)/bin/checkov
# The official CRD schemas (Prometheus Operator, KEDA, Gateway API), generated from the upstream
# CRDs by the @kubernetes-models npm packages pinned in package.json/package-lock.json.
CRD_SCHEMAS := tests/chart/crd-schemas
HELM_ENGINE := $(PY) tools/chart/helm_engine.py
GENERATED_FILES := $(PY) tools/chart/generated_files.py

.PHONY: checkov crd-schemas chart-lint chart-test chart-docs k8s wire-copies

checkov: $(CHECKOV_VENV)/.installed ## install checkov into its own venv (.venv-checkov), used by the chart tests

$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q $(CHECKOV_PIN)
	touch $@

chart-lint: install ## lint the chart with Helm's engine (strict), for the defaults and every ci/*-values.yaml
	$(HELM_ENGINE) lint

chart-test: install $(CHECKOV_VENV)/.installed ## render, validate (Kubernetes 1.30 schemas), checkov-scan and test the chart
	CHECKOV=$(abspath $(CHECKOV)) $(PY) -m pytest -q tests/chart

chart-docs: install ## regenerate the parameter table of helm/triton/README.md from values.yaml
	$(GENERATED_FILES) readme

wire-copies: install ## regenerate triton_wire.py in loadtest/ and helm/triton/files/ from tools/tritonctl/wire/ (a test keeps them in sync)
	$(GENERATED_FILES) wire

k8s: install ## regenerate the plain manifests in k8s/triton/ from the chart and k8s/values.yaml
	$(GENERATED_FILES) k8s

crd-schemas: $(CRD_SCHEMAS)/node_modules/.installed ## install the official CRD schemas (npm @kubernetes-models/*, pinned) the chart tests validate custom resources against

$(CRD_SCHEMAS)/node_modules/.installed: $(CRD_SCHEMAS)/package.json $(CRD_SCHEMAS)/package-lock.json
	@mk/ensure-debian-packages.sh "node npm" nodejs npm
	npm ci --prefix $(CRD_SCHEMAS) --no-audit --no-fund --loglevel=error
	touch $@

test chart-test: crd-schemas
