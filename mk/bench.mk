# Side-by-side serving benchmark (issue 6): our Triton vs TorchServe, Flask+gunicorn, in-process.
# The peers live in their own venv so that TorchServe/Flask never touch the project's .venv;
# torch is pinned there too (the CPU wheel; an unpinned torch pulls CUDA).
PEERS_VENV ?= .venv-peers
PEERS_PY := $(PEERS_VENV)/bin/python
PEERS_PKGS := torchserve==0.12.0 torch-model-archiver==0.12.0 captum==0.9.0 flask gunicorn pyyaml 'numpy<2'
# About 17 minutes on 2 cores (2 interleaved rounds x 96 points). A quicker look:
#   make bench-peers PEERS_ARGS="--models digits --concurrency 1,8 --rounds 1"
PEERS_ARGS ?=

.PHONY: peers-install bench-peers

peers-install: $(PEERS_VENV)/.installed ## venv .venv-peers: TorchServe + torch-model-archiver 0.12.0, Flask, gunicorn, torch==2.13.0 (CPU)

$(PEERS_VENV)/.installed: mk/bench.mk
	@command -v java >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -q && apt-get install -y -q openjdk-17-jre-headless; } \
		|| { echo "TorchServe needs Java 11+: sudo apt-get install -y openjdk-17-jre-headless"; exit 1; }
	test -x $(PEERS_PY) || $(PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_PY) -m pip install -q --upgrade pip
	$(PEERS_PY) -m pip install -q $(TORCH_PIN) $(PEERS_PKGS)
	touch $@

bench-peers: models peers-install ## our Triton (ONNX/TorchScript, gRPC/HTTP) vs TorchServe, Flask+gunicorn and in-process; table + plot -> benchmarks/RESULTS.md
	$(PY) benchmarks/peers.py --peers-venv $(PEERS_VENV) --results-md benchmarks/RESULTS.md $(PEERS_ARGS)
