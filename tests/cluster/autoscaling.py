"""The autoscaling loop's shared parts (tests/cluster/test_cluster_autoscaling*.py): the served
model (a fixed 20 ms "GPU" wait), the chart values both metric paths share, a real Prometheus
scraping the stand-in's servers with the chart's rules and ServiceMonitor relabelings, the metric
servers behind the aggregation layer (prometheus-adapter for custom.metrics.k8s.io, KEDA's
operator and metrics API server for external.metrics.k8s.io), the open-loop Poisson load, and
the loop itself: idle at minReplicas, up under load and settled, back down after it.

Every process listens on 127.0.0.1 (KEDA's metrics server's own /metrics endpoint excepted: KEDA
binds it to ``:port``, with no flag for the address); the API server reaches the metric servers
through an APIService whose Service is an ExternalName to localhost, as kwokctl registers
metrics-server.
"""

from __future__ import annotations

import copy
import csv
import ipaddress
import json
import os
import random
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from kubekit import ROOT, Kube
from releases import manifest_objects
from standin import StandIn

import promkit
from tritonctl import client as tc
from tritonctl.cluster import crds, pki
from tritonctl.endpoints import free_ports
from tritonctl.process import stop_group

SERVICE_S = 0.020
RATE = 80.0
MAX_REPLICAS = 3


@dataclass(frozen=True)
class Signal:
    """One of the chart's autoscaling signals that a CPU build exports (``autoscaling.metric``),
    the custom metric prometheus-adapter serves for it (k8s/prometheus-adapter's rules, named in the
    chart README) and the target the loop sets.

    The targets sit at the same place on the M/D/1 curve (test_cluster_autoscaling.py derives it):
    at 3 replicas the queue runs 11-13 ms per request against 15 ms, and the ratio (queue over the
    20-21 ms of compute the Python backend reports) 0.50-0.66 against 0.7. Both stay above 2/3 of
    their target (10 ms, 0.467), so the HPA holds 3 replicas, and under it, so the metric settles
    below the target."""
    metric: str
    custom_metric: str
    target: float


SIGNALS = [
    Signal("queueTimePerRequest", "triton_queue_time_per_request_us", 15000),
    Signal("queueComputeRatio", "triton_queue_compute_ratio", 0.7),
]
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
BASE_VALUES = {
    "gpu": {"enabled": False},
    "modelRepository": {"source": "s3", "s3": {"url": "s3://models/repository"}},
    "server": {"restrictedApis": {"apis": []}},
    "metrics": {"rateWindow": "20s", "serviceMonitor": {"enabled": True, "interval": "2s"},
                "prometheusRule": {"enabled": True}},
    "autoscaling": {
        "enabled": True, "metric": "queueTimePerRequest",
        "minReplicas": 1, "maxReplicas": MAX_REPLICAS, "targets": {"queueTimePerRequest": "15000"},
        "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0,
                                 "policies": [{"type": "Pods", "value": 2, "periodSeconds": 10}]},
                     "scaleDown": {"stabilizationWindowSeconds": 30,
                                   "policies": [{"type": "Pods", "value": 2, "periodSeconds": 10}]}},
    },
}


def values(autoscaling: dict, signal: Signal | None = None) -> dict:
    """BASE_VALUES with ``autoscaling`` merged into its autoscaling section, scaling on ``signal``
    (its metric and target) when given."""
    merged = copy.deepcopy(BASE_VALUES)
    merged["autoscaling"].update(autoscaling)
    if signal:
        merged["autoscaling"].update({"metric": signal.metric, "targets": {signal.metric: f"{signal.target:g}"}})
    return merged


def write_repository(path: Path) -> Path:
    (path / MODEL / "1").mkdir(parents=True)
    (path / MODEL / "config.pbtxt").write_text(CONFIG)
    (path / MODEL / "1" / "model.py").write_text(MODEL_PY)
    return path


def start_prometheus(kube: Kube, namespace: str, standin: StandIn, workdir: Path,
                     port: int | None = None) -> promkit.PrometheusServer:
    """A real Prometheus with the installed release's recording rules and the scrape job the
    Prometheus Operator builds from its ServiceMonitor, its targets from the stand-in's file
    instead of the pods' fake addresses."""
    objs = manifest_objects(kube, namespace)
    rule_paths = []
    for content in promkit.rule_files(objs).values():
        path = workdir / f"rules-{len(rule_paths)}.yaml"
        path.write_text(yaml.safe_dump(content))
        rule_paths.append(path)
    job = promkit.scrape_config(objs, "127.0.0.1:1", "unused")
    job.pop("static_configs")
    job["file_sd_configs"] = [{"files": [str(standin.sd_file)], "refresh_interval": "1s"}]
    (workdir / "prometheus").mkdir()
    return promkit.PrometheusServer(workdir / "prometheus", port or free_ports(1)[0], [job], rule_paths).start()


def register_apiservice(kube: Kube, group: str, namespace: str, service: str, port: int) -> None:
    """``v1beta1.<group>`` served by a process on 127.0.0.1:``port``: an ExternalName Service to
    localhost and the APIService the aggregation layer proxies through it."""
    kube.namespace(namespace, labels={})
    kube.apply([
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": service, "namespace": namespace},
         "spec": {"type": "ExternalName", "externalName": "localhost", "ports": [{"port": port}]}},
        {"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": {"name": f"v1beta1.{group}"},
         "spec": {"group": group, "version": "v1beta1", "insecureSkipTLSVerify": True,
                  "groupPriorityMinimum": 100, "versionPriority": 100,
                  "service": {"name": service, "namespace": namespace, "port": port}}},
    ])


class Adapter:
    """prometheus-adapter on 127.0.0.1 with the rules of k8s/prometheus-adapter/values.yaml,
    registered as v1beta1.custom.metrics.k8s.io."""

    GROUP = "custom.metrics.k8s.io"

    def __init__(self, kube: Kube, prometheus_url: str, workdir: Path):
        self.kube = kube
        rules = yaml.safe_load((ROOT / "k8s" / "prometheus-adapter" / "values.yaml").read_text())["rules"]
        config = workdir / "adapter.yaml"
        config.write_text(yaml.safe_dump({"rules": rules["custom"]}))
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
        register_apiservice(kube, self.GROUP, "monitoring", "prometheus-adapter", self.port)

    def stop(self):
        self.kube.kubectl("delete", "apiservice", f"v1beta1.{self.GROUP}", check=False)
        stop_group(self.proc, timeout=10)


def write_keda_certs(folder: Path) -> Path:
    """What KEDA's cert rotation would put in its cert dir (pkg/certificates), for the loopback:
    ca.crt, and tls.crt/tls.key for 127.0.0.1 and localhost with both server and client use (the
    operator's gRPC metrics service requires and verifies a client certificate from the same CA,
    pkg/metricsservice/utils/tls.go; the metrics server dials it with the same files)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = pki.new_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keda-rehearsal-ca")])
    pki.write_cert(pki.sign(ca_name, ca_key, ca_name, ca_key, ca=True), folder / "ca.crt")
    key = pki.new_key()
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    leaf = pki.sign(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keda")]), key, ca_name, ca_key,
                     usages=(ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH), sans=sans)
    pki.write_cert(leaf, folder / "tls.crt")
    pki.write_key(key, folder / "tls.key")
    return folder


class Keda:
    """KEDA's operator (the ScaledObject controller, the scalers, the gRPC metrics service) and
    its metrics API server (``keda-adapter``) on 127.0.0.1, out of cluster with the cluster's
    kubeconfig; certificates from ``write_keda_certs`` instead of KEDA's in-cluster rotation; the
    metrics server registered as v1beta1.external.metrics.k8s.io. No admission webhooks."""

    GROUP = "external.metrics.k8s.io"
    NAMESPACE = "keda"
    # the operator watches these too and exits when they are missing ("failed to wait for
    # cloudeventsource caches to sync"); the cluster installs only the keda.sh ones the chart uses
    EVENTING_CRDS = [f"config/crd/bases/eventing.keda.sh_{k}.yaml" for k in ("cloudeventsources", "clustercloudeventsources")]

    def __init__(self, kube: Kube, workdir: Path):
        self.kube, self.workdir = kube, workdir
        module = next((m, v) for m, v, _ in crds.PINNED if m == "github.com/kedacore/keda/v2")
        paths = [str(crds.module_dir(*module) / f) for f in self.EVENTING_CRDS]
        kube.kubectl("apply", "--server-side", *[a for path in paths for a in ("-f", path)])
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                     "crd/cloudeventsources.eventing.keda.sh", "crd/clustercloudeventsources.eventing.keda.sh")
        certs = write_keda_certs(workdir / "keda-certs")
        grpc_port, self.port, probe_port, metrics_port, server_metrics_port = free_ports(5)
        kc = str(kube.info.kubeconfig)
        env = dict(kube.info.env(), POD_NAMESPACE=self.NAMESPACE, KEDA_CLUSTER_OBJECT_NAMESPACE=self.NAMESPACE,
                   WATCH_NAMESPACE="")
        kube.namespace(self.NAMESPACE, labels={})
        self.operator_log, self.server_log = workdir / "keda-operator.log", workdir / "keda-adapter.log"
        with self.operator_log.open("w") as log:
            self.operator = subprocess.Popen(
                [str(kube.bin / "keda-operator"), f"--kubeconfig={kc}", "--leader-elect=false",
                 f"--metrics-service-bind-address=127.0.0.1:{grpc_port}",
                 f"--metrics-bind-address=127.0.0.1:{metrics_port}",
                 f"--health-probe-bind-address=127.0.0.1:{probe_port}",
                 f"--cert-dir={certs}", "--enable-cert-rotation=false", f"--ca-dir={certs}",
                 "--zap-log-level=info", "--zap-encoder=console"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        with self.server_log.open("w") as log:
            self.server = subprocess.Popen(
                [str(kube.bin / "keda-adapter"), f"--kubeconfig={kc}", f"--secure-port={self.port}",
                 "--bind-address=127.0.0.1", f"--cert-dir={certs}", f"--tls-cert-file={certs / 'tls.crt'}",
                 f"--tls-private-key-file={certs / 'tls.key'}", f"--lister-kubeconfig={kc}",
                 f"--authentication-kubeconfig={kc}", f"--authorization-kubeconfig={kc}",
                 f"--metrics-service-address=127.0.0.1:{grpc_port}", f"--port={server_metrics_port}",
                 "--zap-log-level=info", "--zap-encoder=console"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        register_apiservice(kube, self.GROUP, self.NAMESPACE, "keda-metrics-apiserver", self.port)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (last 40 lines)\n" + "\n".join(p.read_text().splitlines()[-40:])
                         for p in (self.operator_log, self.server_log))

    def check_running(self) -> None:
        for name, proc in (("keda-operator", self.operator), ("keda-adapter", self.server)):
            assert proc.poll() is None, f"{name} exited {proc.returncode}:\n{self.logs()}"

    def stop(self):
        self.kube.kubectl("delete", "apiservice", f"v1beta1.{self.GROUP}", check=False)
        stop_group(self.server, timeout=10)
        stop_group(self.operator, timeout=10)


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
    """Replicas, ScalingActive and the metric's current value as the HPA status reports them (a
    Pods metric's average, an External metric's value or average)."""
    hpa = kube.get("hpa", name, namespace)
    status = hpa.get("status", {})
    conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
    metric = None
    for m in status.get("currentMetrics") or []:
        if m.get("type") == "Pods":
            metric = m["pods"]["current"]["averageValue"]
        elif m.get("type") == "External":
            current = m["external"]["current"]
            metric = current.get("value", current.get("averageValue"))
    return {"replicas": status.get("currentReplicas", 0), "desired": status.get("desiredReplicas", 0),
            "scaling_active": conditions.get("ScalingActive"), "metric": metric}


def quantity(value: str | None) -> float | None:
    if value is None:
        return None
    from kubernetes.utils import parse_quantity
    return float(parse_quantity(value))


SETTLED_S = 30  # the load lasts until MAX_REPLICAS has held this long with the metric's median under the target
LOAD_LIMIT_S = 90  # ... or this long since it started (then the assertions below say what did not happen)

# The whole loop (up, settled, back down: about 130 s) runs in `make test` for one signal on each
# path, so each path and each signal is proven end to end once; the other two pairs check that
# their metric reaches the HPA and scales it up (about 40 s), which is what differs between them.
# `make bench-autoscale` (AUTOSCALE_FULL=1) runs the whole loop for all four.
FULL_LOOPS = {("prometheus-adapter", "queueTimePerRequest"), ("keda", "queueComputeRatio")}
PATHS = ("prometheus-adapter", "keda")  # the ``path`` each test passes to scaling_loop
# a renamed signal or path must not leave make test without a whole loop
assert FULL_LOOPS <= {(p, s.metric) for p in PATHS for s in SIGNALS} and {p for p, _ in FULL_LOOPS} == set(PATHS)


def runs_full_loop(path: str, signal: Signal) -> bool:
    return os.environ.get("AUTOSCALE_FULL") == "1" or (path, signal.metric) in FULL_LOOPS


def has_settled(rows: list[dict], target: float) -> bool:
    """The load's last SETTLED_S seconds of samples all at MAX_REPLICAS, with the metric's median under
    ``target``."""
    load = [r for r in rows if r["phase"] == "load"]
    if not load or load[-1]["t"] - load[0]["t"] < SETTLED_S:
        return False
    window = [r for r in load if r["t"] >= load[-1]["t"] - SETTLED_S]
    metric = sorted(r["metric"] if r["metric"] is not None else float("inf") for r in window)
    return all(r["replicas"] == MAX_REPLICAS for r in window) and metric[len(metric) // 2] < target


def scaling_loop(kube: Kube, namespace: str, hpa: str, standin: StandIn, workdir: Path, signal: Signal,
                 path: str, check=lambda: None) -> list[dict]:
    """Idle at minReplicas (10 s), the Poisson load at RATE until it ``has_settled`` (MAX_REPLICAS
    held for SETTLED_S with the metric's median under ``signal.target``; at most LOAD_LIMIT_S),
    then the cool-down (up to 120 s), sampling the HPA once a second; asserts the behaviour the
    tests' docstrings derive: 1 while idle, MAX_REPLICAS within 90 s of the load, no scale-down
    under load, the metric's median over the load's last 30 s under the target, back to 1 after
    it, 0 failed requests, ScalingActive throughout. A pair outside FULL_LOOPS (without
    AUTOSCALE_FULL=1) stops at the first scale-up instead. ``check`` runs each second (a metric server still alive).
    The samples go to ``<path>-<signal.metric>.csv`` in $AUTOSCALE_DIR (default: ``workdir``);
    returns them."""
    assert path in PATHS, path
    rows: list[dict] = []
    load = None
    start = time.monotonic()

    def sample(phase):
        check()
        assert not standin.errors, standin.errors
        state = hpa_state(kube, namespace, hpa)
        rows.append({"t": round(time.monotonic() - start, 1), "phase": phase, "replicas": state["replicas"],
                     "servers": len(standin.ready_servers()), "metric": quantity(state["metric"]),
                     "target": signal.target,
                     "ok": load.ok if load else 0, "failed": load.failed if load else 0,
                     "scaling_active": state["scaling_active"]})
        return state

    try:
        kube.wait_for("the HPA to read the metric",
                      lambda: hpa_state(kube, namespace, hpa)["scaling_active"] == "True", timeout=60)
        # idle: stays at minReplicas with the metric available
        idle_until = time.monotonic() + 10
        while time.monotonic() < idle_until:
            assert sample("idle")["replicas"] == 1, rows[-1]
            time.sleep(1)
        assert rows[-1]["scaling_active"] == "True", rows[-1]

        load = OpenLoopLoad(standin, RATE).start()
        load_start = time.monotonic()
        if not runs_full_loop(path, signal):
            return _scale_up_only(rows, sample, load, load_start)
        while time.monotonic() - load_start < LOAD_LIMIT_S:
            sample("load")
            if has_settled(rows, signal.target):
                break
            time.sleep(1)
        scaled_up = next((r["t"] for r in rows if r["phase"] == "load" and r["replicas"] == MAX_REPLICAS), None)
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
        assert min(r["replicas"] for r in settled) == MAX_REPLICAS, [(r["t"], r["replicas"]) for r in settled]
        changes = sum(a["replicas"] != b["replicas"] for a, b in zip(load_rows, load_rows[1:]))
        assert changes <= 2, [(r["t"], r["replicas"]) for r in load_rows]
        tail = sorted(r["metric"] for r in load_rows if r["t"] >= load_rows[-1]["t"] - SETTLED_S)
        assert tail[len(tail) // 2] < signal.target, tail  # the median of the last 30 s
        assert rows[-1]["replicas"] == 1, rows[-5:]
        assert load.failed == 0, load.failures[:5]
        # the requests flowed at the rate asked for the whole load (Poisson: within 15 %)
        assert load.ok > 0.85 * RATE * (stop_load - load_start), (load.ok, stop_load - load_start)
        assert all(r["scaling_active"] == "True" for r in rows), [r for r in rows if r["scaling_active"] != "True"]
        kube.wait_for("the stand-in to follow the scale-down", lambda: len(standin.ready_servers()) == 1, timeout=30)
        return rows
    finally:
        if load:
            load.stop()
        out = Path(os.environ.get("AUTOSCALE_DIR", workdir)) / f"{path}-{signal.metric}.csv"
        if rows:
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                writer.writeheader()
                writer.writerows(rows)


def _scale_up_only(rows: list[dict], sample, load: OpenLoopLoad, load_start: float) -> list[dict]:
    """The load until the HPA first scales up on this signal (within LOAD_LIMIT_S, as the full loop), with
    no failed request and ScalingActive throughout; the load then stops and the release is removed."""
    while time.monotonic() - load_start < LOAD_LIMIT_S and sample("load")["replicas"] == 1:
        time.sleep(1)
    load.stop()
    assert rows[-1]["replicas"] > 1, [(r["t"], r["replicas"], r["metric"]) for r in rows]
    assert load.ok > 0 and load.failed == 0, (load.ok, load.failures[:5])
    assert all(r["scaling_active"] == "True" for r in rows), [r for r in rows if r["scaling_active"] != "True"]
    return rows


def external_metric(kube: Kube, namespace: str, scaled_object: str, metric: str) -> list[dict]:
    """The items KEDA's metrics server returns for ``metric`` of ``scaled_object`` (KEDA finds the
    ScaledObject by the label selector the HPA it made sends)."""
    raw = (f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}"
           f"?labelSelector=scaledobject.keda.sh%2Fname%3D{scaled_object}")
    result = kube.kubectl("get", "--raw", raw, check=False)
    return json.loads(result.stdout or "{}").get("items") or []


def notes_commands(kube: Kube, namespace: str, release: str) -> list[list[str]]:
    """The kubectl commands the release's NOTES give under "Prove the autoscaling metric reaches
    the HPA", as argument lists for kubectl (what a user would paste)."""
    notes = kube.helm("get", "notes", release, "-n", namespace).stdout
    _, marker, section = notes.partition("Prove the autoscaling metric reaches the HPA:")
    assert marker, notes
    commands = []
    for line in section.splitlines():
        line = line.strip()
        if line[:2].rstrip(".").isdigit() or line.startswith(("NOTE", "WARNING")):
            break  # the next section
        if line.startswith("kubectl "):
            commands.append(shlex.split(line)[1:])
    return commands
