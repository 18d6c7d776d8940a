# Side-by-side serving benchmark: our Triton vs TorchServe, Flask+gunicorn, in-process.
# The peers live in their own venv so that TorchServe/Flask never touch the project's .venv;
# torch is pinned there too (the same torch==2.13.0 as .venv, hard-linked from uv's cache).
PEERS_VENV ?= .venv-peers
PEERS_PY := $(PEERS_VENV)/bin/python
PEERS_PKGS := torchserve==0.12.0 torch-model-archiver==0.12.0 captum==0.9.0 flask gunicorn pyyaml 'numpy<2'
# The Python servers people pick today, each in its own venv (their pins conflict with each other's
# and with TorchServe's), torch pinned in each; the apps are benchmarks/{litserve,bentoml,rayserve}_app.py.
PY_PEERS_PKGS_litserve := litserve==0.2.19
PY_PEERS_PKGS_bentoml := bentoml==1.4.40
PY_PEERS_PKGS_rayserve := ray[serve]==2.60.0
PY_PEERS := litserve bentoml rayserve
PY_PEERS_COMMON := onnxruntime==1.32.0 'numpy<2'
# About 35 minutes on 2 cores (2 interleaved rounds x 168 points, servers start in ~2 min). A quicker look:
#   make bench-peers PEERS_ARGS="--models digits --concurrency 1,8 --rounds 1"
PEERS_ARGS ?=

.PHONY: peers-install bench-peers

peers-install: $(PEERS_VENV)/.installed $(foreach p,$(PY_PEERS),.venv-$(p)/.installed) ## venvs: .venv-peers (TorchServe 0.12.0, Flask, gunicorn), .venv-litserve, .venv-bentoml, .venv-rayserve; torch==2.13.0 in each (one copy on disk, hard-linked by uv)

.venv-%/.installed: mk/bench.mk | $(UV)
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	.venv-$*/bin/python -m pip install -q --upgrade pip
	$(TORCH_INSTALL) .venv-$*/bin/python $(TORCH_PIN)
	.venv-$*/bin/python -m pip install -q $(TORCH_PIN) $(PY_PEERS_COMMON) '$(PY_PEERS_PKGS_$*)'
	touch $@

$(PEERS_VENV)/.installed: mk/bench.mk | $(UV)
	@mk/ensure-debian-packages.sh java openjdk-17-jre-headless  # TorchServe's frontend needs Java 11+
	test -x $(PEERS_PY) || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_PY) -m pip install -q --upgrade pip
	$(TORCH_INSTALL) $(PEERS_PY) $(TORCH_PIN)
	$(PEERS_PY) -m pip install -q $(TORCH_PIN) $(PEERS_PKGS)
	touch $@

bench-peers: models peers-install ## our Triton (ONNX/TorchScript, gRPC/HTTP) vs TorchServe, Flask+gunicorn and in-process; table + plot -> benchmarks/RESULTS.md
	$(PY) benchmarks/peers.py --peers-venv $(PEERS_VENV) --results-md benchmarks/RESULTS.md $(PEERS_ARGS)

# `tritonctl tune` beside Triton Model Analyzer 1.58 (remote launch mode, perf_analyzer from the
# tritonclient 2.41.0 wheel) on one local Triton: same model, grid and objective; both winners
# re-measured by tune's generator. Model Analyzer pins its own tritonclient/numpy/protobuf: own venv.
ANALYZER_VENV ?= .venv-analyzer
# About 15 minutes on 2 cores with the defaults (12 candidates x 3 concurrencies each way; Model Analyzer
# takes ~5x tune's time). Quicker (about 9 minutes):
#   make bench-tune-vs-analyzer ANALYZER_ARGS="--max-batch-sizes 16,32 --instances 1,2 --queue-delays-us 0 --concurrency 1,16 --rounds 1"
ANALYZER_ARGS ?=

.PHONY: analyzer-install bench-tune-vs-analyzer

analyzer-install: $(ANALYZER_VENV)/.installed ## venv .venv-analyzer: triton-model-analyzer 1.58.0

$(ANALYZER_VENV)/.installed: mk/bench.mk
	test -x $(ANALYZER_VENV)/bin/python || $(PYTHON) -m venv $(ANALYZER_VENV)
	$(ANALYZER_VENV)/bin/python -m pip install -q --upgrade pip
	$(ANALYZER_VENV)/bin/python -m pip install -q triton-model-analyzer==1.58.0
	touch $@

bench-tune-vs-analyzer: models analyzer-install ## tritonctl tune vs Model Analyzer: winners, re-measured throughput/p99, wall times -> benchmarks/TUNE_VS_ANALYZER.md
	$(PY) benchmarks/tune_vs_analyzer.py --analyzer-venv $(ANALYZER_VENV) --results-md benchmarks/TUNE_VS_ANALYZER.md $(ANALYZER_ARGS)

# An archive imported by `tritonctl import` (served by Triton) against TorchServe serving the
# original archive: the import tests' MNIST archive, PNG bodies over HTTP on both, c=1,8,16.
.PHONY: bench-import
bench-import: install $(PEERS_VENV)/.installed ## imported MNIST archive on Triton vs the original on TorchServe (req/s, p50/p99 table)
	$(PY) benchmarks/import_vs_torchserve.py --concurrency 1,8,16 --window 8
