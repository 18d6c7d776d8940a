# Load tests and benchmarks: Locust (headless, UI, in-cluster) and tritonctl bench.
# Each target uses the Triton answering at LT_HTTP / LT_GRPC; when none does, it starts a local
# one from $(REPO) (tritonctl serve --detach) for the run and stops it after.
#   make loadtest LT_MODELS=linear,digits LT_USERS=16 LT_DURATION=60s LT_SHAPE=step
#   make loadtest LT_HTTP=triton.example.com:8000 LT_GRPC=triton.example.com:8001
#   make bench BENCH_MODELS="digits digits_torchscript" BENCH_ARGS="-c 1,2,4,8 -b 4"
comma := ,
LT_HTTP ?= localhost:8000
LT_GRPC ?= localhost:8001
LT_METRICS_PORT ?= 8002
LT_MODELS ?= linear
LT_USERS ?= 4
LT_SPAWN ?= 4
LT_DURATION ?= 15s
LT_SHAPE ?=
LT_CLASSES ?= ModelGrpcUser ModelHttpUser DigitsPipelineGrpcUser DigitsPipelineHttpUser
LT_THRESHOLDS ?= --max-fail-ratio 0 --max-p99-ms 2000 --min-requests 1
LT_REPORTS ?= reports/loadtest
LT_WEB_PORT ?= 8089
LT_ARGS ?=
SAMPLES ?= $(if $(wildcard examples/digits_samples/*.png),examples/digits_samples,.tritonctl/digits_samples)
BENCH_MODELS ?= linear
BENCH_ARGS ?= -c 1,2,4,8
CROSSCHECK_MODEL ?= resnet18
CROSSCHECK_ARGS ?= -c 1,2,4 --window 4 --repeat 3
LOCUST_FILES := loadtest/locustfile.py$(if $(LT_SHAPE),$(comma)loadtest/shapes/$(LT_SHAPE).py)
WITH_SERVER := $(PY) -m tritonctl.bench.with_server --http $(LT_HTTP) --grpc $(LT_GRPC) --metrics-port $(LT_METRICS_PORT) \
	--repository $(REPO) --
LOCUST := $(PY) -m locust -f $(LOCUST_FILES) --host http://$(LT_HTTP) --grpc-host $(LT_GRPC) \
	--models $(LT_MODELS) --samples $(SAMPLES)

.PHONY: digit-samples loadtest loadtest-ui bench bench-crosscheck locust-configmap browser

digit-samples: install ## write real digit PNGs (sklearn digits test split, 28x28) for the digits_pipeline users
	$(PY) loadtest/digit_samples.py $(SAMPLES) --if-missing

loadtest: models digit-samples ## headless Locust run (gRPC + HTTP, plain model + digits_pipeline) with thresholds; CSV + HTML in reports/loadtest/
	@mkdir -p $(LT_REPORTS)
	$(WITH_SERVER) $(LOCUST) --headless -u $(LT_USERS) -r $(LT_SPAWN) -t $(LT_DURATION) --only-summary \
		$(LT_THRESHOLDS) --csv $(LT_REPORTS)/locust --html $(LT_REPORTS)/locust.html $(LT_ARGS) $(LT_CLASSES)

loadtest-ui: models digit-samples ## the Locust web UI against the local server (http://localhost:8089); Ctrl-C ends it
	@echo "Locust UI: http://localhost:$(LT_WEB_PORT)  (target: http://$(LT_HTTP), gRPC $(LT_GRPC); Ctrl-C to stop)"
	$(WITH_SERVER) $(LOCUST) --web-port $(LT_WEB_PORT) --class-picker $(LT_ARGS)

bench: models ## tritonctl bench concurrency sweep: throughput, p50/p95/p99 per level -> reports/bench/bench.{csv,png}
	$(WITH_SERVER) $(BIN)/tritonctl bench $(BENCH_MODELS) --url grpc://$(LT_GRPC) --url http://$(LT_HTTP) \
		$(BENCH_ARGS) -o reports/bench

bench-crosscheck: models ## tritonctl bench next to Triton's perf_analyzer (installed from tritonclient 2.41.0) at the same levels
	$(WITH_SERVER) $(BIN)/tritonctl bench $(CROSSCHECK_MODEL) --url grpc://$(LT_GRPC) --perf-analyzer \
		$(CROSSCHECK_ARGS) -o reports/bench --name crosscheck

# The browser test (tests/loadtest/test_locust_browser.py) drives the Locust UI in Debian's Chromium through
# its chromedriver (Selenium from the dev extra); Playwright's own browser download cannot reach the internet.
BROWSER_BINS := chromium chromedriver

browser: ## install Debian's chromium + chromium-driver when missing (root: apt-get; otherwise prints the command)
	@mk/ensure-debian-packages.sh "$(BROWSER_BINS)" chromium chromium-driver

# The suite drives the Locust UI in a real browser.
test test-integration: browser

locust-configmap: wire-copies ## regenerate k8s/locust/configmap.yaml from loadtest/*.py (a test keeps them in sync)
	$(PY) k8s/locust/gen_configmap.py
