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
overloaded (queue time grows without bound), 2 replicas wait ~40 ms, 3 replicas ~11 ms. Target
13500 us: from 1 or 2 replicas the HPA wants more, at 3 it wants ceil(3 x 11/13.5) = 3, outside the
10 % tolerance but above 2/3 of the target: it settles at 3 (maxReplicas). The scale-down
stabilisation (30 s) absorbs a dip of the 20 s rate.
Scale-up bound: scrape 2 s + rate window 20 s + rule evaluation 1 s + adapter relist 2 s + HPA
sync 5 s, about 30 s until the average crosses the target; asserted: 3 replicas within 90 s of
the load starting. Scale-down: 30 s stabilisation + the 20 s window draining + sync, within 120 s.
"""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from kubekit import ROOT, Kube
from releases import RELEASE, install, manifest_objects, uninstall, values_path
from standin import StandIn

import promkit
from tritonctl import client as tc
from tritonctl.endpoints import free_ports

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SERVICE_S = 0.020
RATE = 80.0
TARGET_US = 13500
MODEL = "gpu_like"
MODEL_PY = f'''
import time
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for request in requests:
            time.sleep({SERVICE_S})  # the GPU's share of the work: a fixed time, no CPU
            x = pb_utils.get_input_tensor_by_name(request, "x").as_numpy()
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("y", x)]))
        return out
'''
CONFIG = f'''name: "{MODEL}"
backend: "python"
max_batch_size: 0
input [ {{ name: "x" data_type: TYPE_FP32 dims: [ 4 ] }} ]
output [ {{ name: "y" data_type: TYPE_FP32 dims: [ 4 ] }} ]
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
'''
VALUES = {
    "gpu": {"enabled": False},
    "modelRepository": {"source": "s3", "s3": {"url": "s3://models/repository"}},
    "server": {"restrictedApis": {"apis": []}},
    "metrics": {"rateWindow": "20s", "serviceMonitor": {"enabled": True, "interval": "2s"},
                "prometheusRule": {"enabled": True}},
    "autoscaling": {
        "enabled": True, "metricsSource": "prometheus-adapter", "metric": "queueTimePerRequest",
        "minReplicas": 1, "maxReplicas": 3, "targets": {"queueTimePerRequest": str(TARGET_US)},
        "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0,
                                 "policies": [{"type": "Pods", "value": 2, "periodSeconds": 10}]},
                     "scaleDown": {"stabilizationWindowSeconds": 30,
                                   "policies": [{"type": "Pods", "value": 2, "periodSeconds": 10}]}},
    },
}
METRIC = "triton_queue_time_per_request_us"


def write_repository(path: Path) -> Path:
    (path / MODEL / "1").mkdir(parents=True)
    (path / MODEL / "config.pbtxt").write_text(CONFIG)
    (path / MODEL / "1" / "model.py").write_text(MODEL_PY)
    return path


class Adapter:
    """prometheus-adapter on 127.0.0.1 with the rules of k8s/prometheus-adapter/values.yaml,
    behind an APIService (an ExternalName Service to localhost, as kwokctl registers
    metrics-server), so the API server's aggregation layer proxies custom.metrics.k8s.io to it."""

    def __init__(self, kube: Kube, prometheus_url: str, workdir: Path):
        self.kube = kube
        values = yaml.safe_load((ROOT / "k8s" / "prometheus-adapter" / "values.yaml").read_text())
        config = workdir / "adapter.yaml"
        config.write_text(yaml.safe_dump({"rules": values["rules"]["custom"]}))
        self.port = free_ports(1)[0]
        kc = str(kube.info.kubeconfig)
        self.log = workdir / "adapter.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [str(kube.bin / "adapter"), f"--secure-port={self.port}", "--bind-address=127.0.0.1",
                 f"--cert-dir={workdir / 'adapter-certs'}", f"--lister-kubeconfig={kc}",
                 f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
                 f"--prometheus-url={prometheus_url}/", "--metrics-relist-interval=2s", f"--config={config}", "--v=1"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        kube.namespace("monitoring", labels={})
        kube.apply([
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "prometheus-adapter", "namespace": "monitoring"},
             "spec": {"type": "ExternalName", "externalName": "localhost", "ports": [{"port": self.port}]}},
            {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
             "metadata": {"name": "v1beta1.custom.metrics.k8s.io"},
             "spec": {"group": "custom.metrics.k8s.io", "version": "v1beta1", "insecureSkipTLSVerify": True,
                      "groupPriorityMinimum": 100, "versionPriority": 100,
                      "service": {"name": "prometheus-adapter", "namespace": "monitoring", "port": self.port}}},
        ])

    def stop(self):
        self.kube.kubectl("delete", "apiservice", "v1beta1.custom.metrics.k8s.io", check=False)
        from tritonctl.server.process import stop_group
        stop_group(self.proc, timeout=10)


class OpenLoopLoad:
    """Requests at a mean ``rate`` per second with Poisson arrivals, each to a ready server picked
    at random (as kube-proxy's iptables mode picks a Service's endpoint), over gRPC through
    tritonctl's client layer; counts successes and failures."""

    def __init__(self, standin: StandIn, rate: float):
        self.standin, self.rate = standin, rate
        self.ok = self.failed = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._clients: dict[str, object] = {}
        self._threads: list[threading.Thread] = []
        self._pick = random.Random(7)

    def _one(self):
        servers = self.standin.ready_servers()
        if not servers:
            return
        with self._lock:
            server = self._pick.choice(servers)
        try:
            c = self._clients.get(server.grpc) or self._clients.setdefault(server.grpc, tc.make_client(server.grpc, "grpc"))
            tc.infer(c, MODEL, {"x": np.ones(4, dtype=np.float32)}, client_timeout=30)
            with self._lock:
                self.ok += 1
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            with self._lock:
                self.failed += 1
                self.failures.append(f"{server.pod}: {exc}")

    def _run(self):
        arrivals, due = random.Random(20261207), time.monotonic()
        while not self._stop.is_set():
            due += arrivals.expovariate(self.rate)
            t = threading.Thread(target=self._one, daemon=True)
            t.start()
            self._threads.append(t)
            self._stop.wait(max(0.0, due - time.monotonic()))

    def start(self):
        self._driver = threading.Thread(target=self._run, daemon=True)
        self._driver.start()
        return self

    def stop(self):
        self._stop.set()
        self._driver.join(timeout=10)
        for t in self._threads:
            t.join(timeout=35)


def hpa_state(kube: Kube, namespace: str, name: str) -> dict:
    hpa = kube.get("hpa", name, namespace)
    status = hpa.get("status", {})
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    metric = None
    for m in status.get("currentMetrics") or []:
        if m.get("type") == "Pods":
            metric = m["pods"]["current"]["averageValue"]
    return {"replicas": status.get("currentReplicas", 0), "desired": status.get("desiredReplicas", 0),
            "scaling_active": conditions.get("ScalingActive"), "metric": metric}


def quantity(value: str | None) -> float | None:
    if value is None:
        return None
    from kubernetes.utils import parse_quantity
    return float(parse_quantity(value))


def test_queue_time_autoscaling_through_prometheus_adapter_and_the_hpa(kube, namespace, tmp_path):
    objects_values = values_path(tmp_path, VALUES)
    repo = write_repository(tmp_path / "repository")
    standin = StandIn(kube, namespace, RELEASE, repo, tmp_path / "standin").start()
    prometheus = adapter = load = None
    rows: list[dict] = []
    try:
        install(kube, namespace, ["-f", objects_values])
        objs = manifest_objects(kube, namespace)
        rules = promkit.rule_files(objs)
        rule_paths = []
        for label, content in rules.items():
            path = tmp_path / f"rules-{len(rule_paths)}.yaml"
            path.write_text(yaml.safe_dump(content))
            rule_paths.append(path)
        # the job the Prometheus Operator builds from the chart's ServiceMonitor, its targets
        # from the stand-in's file instead of the pods' fake addresses
        job = promkit.scrape_config(objs, "127.0.0.1:1", "unused")
        job.pop("static_configs")
        job["file_sd_configs"] = [{"files": [str(standin.sd_file)], "refresh_interval": "1s"}]
        (tmp_path / "prometheus").mkdir()
        prometheus = promkit.PrometheusServer(tmp_path / "prometheus", free_ports(1)[0], [job], rule_paths).start()
        adapter = Adapter(kube, prometheus.url, tmp_path)

        raw = f"/apis/custom.metrics.k8s.io/v1beta1/namespaces/{namespace}/pods/*/{METRIC}"
        def served():
            assert not standin.errors, standin.errors
            return json.loads(kube.kubectl("get", "--raw", raw, check=False).stdout or "{}").get("items")
        listed = kube.wait_for("the adapter to serve the metric per pod", served, timeout=90)
        assert {i["describedObject"]["name"] for i in listed} == {s.pod for s in standin.ready_servers()}

        start = time.monotonic()

        def sample(phase):
            state = hpa_state(kube, namespace, RELEASE)
            rows.append({"t": round(time.monotonic() - start, 1), "phase": phase, "replicas": state["replicas"],
                         "servers": len(standin.ready_servers()), "metric_us": quantity(state["metric"]),
                         "ok": load.ok if load else 0, "failed": load.failed if load else 0,
                         "scaling_active": state["scaling_active"]})
            return state

        kube.wait_for("the HPA to read the metric", lambda: hpa_state(kube, namespace, RELEASE)["scaling_active"]
                      == "True", timeout=60)
        # idle: stays at minReplicas with the metric available
        idle_until = time.monotonic() + 10
        while time.monotonic() < idle_until:
            assert sample("idle")["replicas"] == 1
            time.sleep(1)
        assert rows[-1]["scaling_active"] == "True", rows[-1]

        load = OpenLoopLoad(standin, RATE).start()
        load_start = time.monotonic()
        while time.monotonic() - load_start < 100:
            sample("load")
            time.sleep(1)
        scaled_up = next((r["t"] for r in rows if r["phase"] == "load" and r["replicas"] == 3), None)
        load.stop()
        stop_load = time.monotonic()
        while time.monotonic() - stop_load < 120:
            if sample("cool-down")["replicas"] == 1:
                break
            time.sleep(1)

        load_rows = [r for r in rows if r["phase"] == "load"]
        assert scaled_up is not None and scaled_up - load_rows[0]["t"] <= 90, load_rows
        # once up, no scale-down while the load lasts (the count of scale events during the load is
        # the ramp only), and the metric is back under the target
        settled = [r for r in load_rows if r["t"] >= scaled_up]
        assert min(r["replicas"] for r in settled) == 3, [(r["t"], r["replicas"]) for r in settled]
        changes = sum(a["replicas"] != b["replicas"] for a, b in zip(load_rows, load_rows[1:]))
        assert changes <= 2, [(r["t"], r["replicas"]) for r in load_rows]
        tail = sorted(r["metric_us"] for r in load_rows if r["t"] >= load_rows[-1]["t"] - 30)
        assert tail[len(tail) // 2] < TARGET_US, tail  # the median of the last 30 s
        assert rows[-1]["replicas"] == 1, rows[-5:]
        assert load.failed == 0, load.failures[:5]
        assert load.ok > RATE * 60
        assert all(r["scaling_active"] == "True" for r in rows), [r for r in rows if r["scaling_active"] != "True"]
        assert len(standin.ready_servers()) == 1  # the stand-in followed the scale-down
    finally:
        out = Path(os.environ.get("AUTOSCALE_CSV", tmp_path / "autoscale.csv"))
        if rows:
            with out.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)
        if load:
            load.stop()
        if adapter:
            adapter.stop()
        if prometheus:
            prometheus.stop()
        standin.stop()
        uninstall(kube, namespace)
