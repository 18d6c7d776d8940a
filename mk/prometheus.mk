# A real Prometheus for the chart tests: Debian's `prometheus` package gives the server and
# `promtool` (check/test rules, and a server that scrapes a local Triton). The tests start their
# own server on a free port with a temporary TSDB; the package's own service is not used
# (--no-install-recommends keeps node-exporter and friends out).
PROMETHEUS_BINS := prometheus promtool

.PHONY: prometheus

prometheus: ## install Debian's prometheus (server + promtool) when missing (root: apt-get; otherwise prints the command)
	@missing=$$(for b in $(PROMETHEUS_BINS); do command -v $$b >/dev/null || echo $$b; done); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's prometheus (missing: $$missing)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; \
	else \
		echo "missing: $$missing. Install Debian's prometheus package (server + promtool) as root, then rerun:" >&2; \
		echo "    sudo apt-get update && sudo apt-get install -y --no-install-recommends prometheus" >&2; \
		exit 1; \
	fi

# The suite runs promtool and a Prometheus server (tests/chart/test_prometheus_*.py).
test chart-test test-integration: prometheus
