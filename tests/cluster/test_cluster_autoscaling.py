"""Autoscaling end to end with the real parts: Triton's metrics (local tritonservers standing in
for the pods' containers, tests/cluster/standin.py) -> a real Prometheus with the chart's
recording rules and scrape relabelings -> prometheus-adapter (built from its Go module) with the
rules of k8s/prometheus-adapter, registered as v1beta1.custom.metrics.k8s.io through the
aggregation layer -> the HPA controller of the real kube-controller-manager scales the chart's
Deployment; the scheduler and kwok place the new pods, the stand-in starts their servers, and the
load spreads over them as a Service would.

The served model stands for a GPU-bound one: its compute is a fixed 20 ms wait, so a server's
capacity does not depend on how the 2 shared cores are split between the servers; with a
CPU-bound model every replica here would compete for the same cores and scaling out could not
lower the queue. The load is open-loop with Poisson arrivals (independent clients at a mean
rate): evenly spaced requests would never queue below capacity, and the queue-time metric would
swing between 0 and overload.

Expected, from the numbers (M/D/1 per server, 20 ms service, 80 req/s in all): 1 replica is
overloaded (queue time grows without bound), 2 replicas wait ~40 ms, 3 replicas ~11 ms (measured:
11.5-13.6 ms, about 21 ms per request with the backend's overhead). Target 15000 us: from 1 or 2
replicas the HPA wants more, at 3 it wants ceil(3 x 12.5/15) = 3, outside the 10 % tolerance but
above 2/3 of the target: it settles at 3 (maxReplicas); going down to 2 would need the average
under 10 ms for the whole 30 s scale-down stabilisation window. The queue/compute ratio runs the
same loop (in `make test` up to its first scale-up, the whole of it in `make bench-autoscale`: autoscaling.FULL_LOOPS): compute is the 20 ms wait plus the backend's overhead, so 3 replicas give 0.50-0.66
(measured) against a target of 0.7, whose 2/3 (0.467) is under that range.
Scale-up bound: scrape 2 s + rate window 20 s + rule evaluation 1 s + adapter relist 2 s + HPA
sync 5 s, about 30 s until the average crosses the target; asserted: 3 replicas within 90 s of
the load starting. Scale-down: 30 s stabilisation + the 20 s window draining + sync, within 120 s.
"""

from __future__ import annotations

import json

import pytest
from autoscaling import SIGNALS, Adapter, notes_commands, scaling_loop, start_prometheus, values, write_repository
from releases import RELEASE, install, uninstall, values_path
from standin import StandIn

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("signal", SIGNALS, ids=[s.metric for s in SIGNALS])
def test_autoscaling_through_prometheus_adapter_and_the_hpa(kube, namespace, tmp_path, signal):
    metric = signal.custom_metric
    objects_values = values_path(tmp_path, values({"metricsSource": "prometheus-adapter"}, signal))
    repo = write_repository(tmp_path / "repository")
    standin = StandIn(kube, namespace, RELEASE, repo, tmp_path / "standin").start()
    prometheus = adapter = None
    try:
        install(kube, namespace, ["-f", objects_values])
        prometheus = start_prometheus(kube, namespace, standin, tmp_path)
        adapter = Adapter(kube, prometheus.url, tmp_path)

        raw = f"/apis/custom.metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/*/{metric}"
        def served():
            assert not standin.errors, standin.errors
            return json.loads(kube.kubectl("get", "--raw", raw, check=False).stdout or "{}").get("items")
        listed = kube.wait_for("the adapter to serve the metric per pod", served, timeout=90)
        assert {i["describedObject"]["name"] for i in listed} == {s.pod for s in standin.ready_servers()}

        # the NOTES' own commands answer what the NOTES say: the metric per pod, the HPA reading it
        raw_cmd, describe_cmd = notes_commands(kube, namespace, RELEASE)
        assert raw_cmd[:2] == ["get", "--raw"] and describe_cmd[-3:-1] == ["describe", "hpa"], (raw_cmd, describe_cmd)
        answered = json.loads(kube.kubectl(*raw_cmd).stdout)["items"]
        assert {i["describedObject"]["name"] for i in answered} == {s.pod for s in standin.ready_servers()}
        assert {i["metricName"] for i in answered} == {metric}
        kube.wait_for("the HPA to describe the metric", lambda: metric in kube.kubectl(*describe_cmd).stdout)

        scaling_loop(kube, namespace, RELEASE, standin, tmp_path, signal, "prometheus-adapter")
    finally:
        if adapter:
            adapter.stop()
        if prometheus:
            prometheus.stop()
        standin.stop()
        uninstall(kube, namespace)
