# A real Prometheus for the chart tests: Debian's `prometheus` package gives the server and
# `promtool` (check/test rules, and a server that scrapes a local Triton). The tests start their
# own server on a free port with a temporary TSDB; the package's own service is not used
# (--no-install-recommends keeps node-exporter and friends out).
PROMETHEUS_BINS := prometheus promtool

.PHONY: prometheus

prometheus: ## install Debian's prometheus (server + promtool) when missing (root: apt-get; otherwise prints the command)
	@mk/ensure-debian-packages.sh "$(PROMETHEUS_BINS)" prometheus

# The suite runs promtool and a Prometheus server (tests/chart/test_prometheus_*.py).
test chart-test test-integration: prometheus
