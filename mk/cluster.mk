# The rehearsal cluster: a real Kubernetes control plane on the loopback, built from the
# pinned Go modules in k8s/cluster/gomod (kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, etcd, kwok, helm) into a cache outside the work tree (~/.cache/tritonctl/cluster-bin,
# keyed by each wrapper's go.sum). kwok's simulated GPU, MIG and CPU nodes stand in for kubelets.
#   make cluster-up            # then: export KUBECONFIG=$(CURDIR)/.cluster/kubeconfig
#   make cluster-down
# Go is in /usr/local/go/bin on polyglot machines, which only interactive shells put on PATH:
# look there too (build.sh and the CRD download in the tests run go).
ifeq ($(shell command -v go 2>/dev/null),)
export PATH := $(PATH):/usr/local/go/bin
endif
CLUSTER_STATE ?= .cluster
CLUSTER_BIN_STAMP := .cluster-bin
HPA_SYNC_PERIOD ?= 5s
HPA_DOWNSCALE_STABILIZATION ?= 30s

.PHONY: cluster-build cluster-up cluster-down cluster-status test-cluster fuzz-chart bench-autoscale

cluster-build: ## build the control plane's binaries (cold: tens of minutes on 2 cores; cached after)
	@command -v go >/dev/null || { echo 'cluster-build needs Go 1.26+ (on polyglot machines; Debian 12'"'"'s golang-go is too old)' >&2; exit 1; }
	k8s/cluster/build.sh

cluster-up: install cluster-build ## start etcd, the API server, controller manager, scheduler and kwok's GPU/MIG/CPU nodes on 127.0.0.1
	$(BIN)/tritonctl cluster up --state-dir $(CLUSTER_STATE) \
	  --hpa-sync-period $(HPA_SYNC_PERIOD) --hpa-downscale-stabilization $(HPA_DOWNSCALE_STABILIZATION)

cluster-down: ## stop the rehearsal cluster and remove its state
	$(BIN)/tritonctl cluster down --state-dir $(CLUSTER_STATE)

cluster-status: ## is every component of the rehearsal cluster running
	$(BIN)/tritonctl cluster status --state-dir $(CLUSTER_STATE)

# the suite's control-plane tests start their own cluster from these binaries
test: cluster-build

test-cluster: install cluster-build ## only the control-plane tests (tests/cluster: install, scheduling, rollout, drain, helm test, names)
	$(PY) -m pytest -q tests/cluster

FUZZ_EXAMPLES ?= 2000
fuzz-chart: install cluster-build ## draw FUZZ_EXAMPLES new value sets from values.schema.json and install each with --dry-run=server
	FUZZ_RANDOM=1 FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/cluster/test_cluster_values_fuzz.py

# The autoscaling loops of tests/cluster/test_cluster_autoscaling*.py (both metric paths, both
# signals), their time series kept: benchmarks/autoscale/<path>-<metric>.csv and
# benchmarks/autoscale.png (replicas, the metric against its target, the request rate).
bench-autoscale: install cluster-build prometheus ## idle -> load -> idle through Prometheus, prometheus-adapter / KEDA and the HPA -> benchmarks/autoscale/*.csv, benchmarks/autoscale.png
	AUTOSCALE_FULL=1 AUTOSCALE_DIR=$(CURDIR)/benchmarks/autoscale $(PY) -m pytest -q tests/cluster/test_cluster_autoscaling.py tests/cluster/test_cluster_autoscaling_keda.py
	$(PY) benchmarks/autoscale_plot.py benchmarks/autoscale benchmarks/autoscale.png
