"""A real Prometheus for the chart tests (Debian's `prometheus` package: server + promtool).

- ``rule_files(objs)``: every rules file the chart renders (a PrometheusRule's ``spec`` is a
  rules file; a ConfigMap value with ``groups:`` is one too), by a label naming its source.
- ``promtool(...)``: runs promtool, failing with the install command when it is missing.
- ``scrape_config(objs, ...)``: the scrape job a Prometheus Operator would build from the
  rendered ServiceMonitor/PodMonitor (interval, timeout, path, the chart's relabelings), for
  one local target that carries the Kubernetes service-discovery labels of the rendered pod.
- ``PrometheusServer``: a server on a free port with a temporary TSDB, queried through
  /api/v1 (``query``, ``series``, ``rules``).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from tritonctl.process import stop_child

INSTALL_HINT = ("install Debian's prometheus package (server + promtool): `make prometheus` "
                "(as root: apt-get update && apt-get install -y --no-install-recommends prometheus)")


def binary(name: str) -> str:
    """Path of `prometheus` or `promtool`; fails (never skips: CI installs them) when missing."""
    path = shutil.which(name)
    if not path:
        pytest.fail(f"`{name}` is not on PATH; {INSTALL_HINT}")
    return path


def promtool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([binary("promtool"), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


# ---------------------------------------------------------------- rules the chart renders

def rule_files(objs: list[dict]) -> dict[str, dict]:
    """'<Kind>/<name>[/<key>]' -> rules file content, for every rule group source rendered."""
    out = {}
    for obj in objs:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "PrometheusRule":
            out[name] = obj["spec"]
        elif obj["kind"] == "ConfigMap":
            for key, text in (obj.get("data") or {}).items():
                if not key.endswith((".yaml", ".yml", ".rules")):
                    continue
                doc = yaml.safe_load(text)
                if isinstance(doc, dict) and "groups" in doc:
                    out[f"{name}/{key}"] = doc
    return out


def rules_of(rules_file: dict) -> list[dict]:
    return [r for g in rules_file["groups"] for r in g["rules"]]


def rule_names(rules_file: dict) -> set[str]:
    return {r.get("record") or r.get("alert") for r in rules_of(rules_file)}


# ---------------------------------------------------------------- scrape config from the monitor

_RELABEL_KEYS = {"sourceLabels": "source_labels", "targetLabel": "target_label", "regex": "regex",
                 "replacement": "replacement", "action": "action", "separator": "separator",
                 "modulus": "modulus"}


def relabel_configs(relabelings: list[dict]) -> list[dict]:
    """Prometheus Operator RelabelConfig (camelCase) -> Prometheus relabel_config (snake_case)."""
    out = []
    for r in relabelings or []:
        unknown = set(r) - set(_RELABEL_KEYS)
        assert not unknown, f"relabeling field(s) {unknown} unknown to this translation: {r}"
        cfg = {_RELABEL_KEYS[k]: v for k, v in r.items()}
        if "action" in cfg:
            cfg["action"] = cfg["action"].lower()
        out.append(cfg)
    return out


def sd_label_name(key: str) -> str:
    """Kubernetes SD's label name sanitising: every character outside [a-zA-Z0-9_] becomes '_'."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", key)


def pod_sd_labels(deployment: dict, pod_name: str, node: str = "local-node") -> dict[str, str]:
    """The __meta_kubernetes_* labels service discovery gives a pod of the rendered Deployment."""
    tmpl = deployment["spec"]["template"]
    labels = {
        "__meta_kubernetes_namespace": deployment["metadata"]["namespace"],
        "__meta_kubernetes_pod_name": pod_name,
        "__meta_kubernetes_pod_node_name": node,
    }
    for k, v in (tmpl["metadata"].get("labels") or {}).items():
        labels[f"__meta_kubernetes_pod_label_{sd_label_name(k)}"] = str(v)
        labels[f"__meta_kubernetes_pod_labelpresent_{sd_label_name(k)}"] = "true"
    return labels


def scrape_config(objs: list[dict], target: str, pod_name: str) -> dict:
    """The scrape job for the rendered ServiceMonitor or PodMonitor, pointed at ``target``."""
    monitors = [o for o in objs if o["kind"] in ("ServiceMonitor", "PodMonitor")]
    assert len(monitors) == 1, f"expected one ServiceMonitor or PodMonitor, got {[o['kind'] for o in monitors]}"
    mon = monitors[0]
    endpoints = mon["spec"].get("endpoints") or mon["spec"].get("podMetricsEndpoints")
    assert len(endpoints) == 1, endpoints
    ep = endpoints[0]
    deployment = next(o for o in objs if o["kind"] == "Deployment")
    job = {
        "job_name": f"{mon['kind'].lower()}/{mon['metadata']['namespace']}/{mon['metadata']['name']}/0",
        "scrape_interval": ep.get("interval", "30s"),
        "scrape_timeout": ep.get("scrapeTimeout", ep.get("interval", "10s")),
        "metrics_path": ep.get("path", "/metrics"),
        "static_configs": [{"targets": [target], "labels": pod_sd_labels(deployment, pod_name)}],
        "relabel_configs": relabel_configs(ep.get("relabelings")),
    }
    if ep.get("metricRelabelings"):
        job["metric_relabel_configs"] = relabel_configs(ep["metricRelabelings"])
    return job


# ---------------------------------------------------------------- Grafana / adapter / KEDA queries

def seconds(duration: str) -> float:
    """A Prometheus duration ('1s', '15s', '1m', '1h30m') in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a Prometheus duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def grafana_rate_interval(scrape_interval_s: float, interval_s: float) -> str:
    """Grafana's $__rate_interval: max($__interval + scrape interval, 4 x scrape interval)."""
    return f"{int(math.ceil(max(interval_s + scrape_interval_s, 4 * scrape_interval_s)))}s"


def adapter_query(metrics_query: str, series: str, namespace: str, pods: list[str], resource_label: str = "pod",
                  namespace_label: str = "namespace") -> str:
    """prometheus-adapter's metricsQuery for a namespaced pods request, filled as its
    pkg/naming/metrics_query.go Build() fills it: LabelMatchers = namespace="ns" then
    pod="name" (one) or pod=~"a|b" (several); GroupBy = the resource label."""
    matchers = [f'{namespace_label}={json.dumps(namespace)}']
    if len(pods) == 1:
        matchers.append(f'{resource_label}={json.dumps(pods[0])}')
    else:
        matchers.append(f'{resource_label}=~{json.dumps("|".join(pods))}')
    fields = {"Series": series, "LabelMatchers": ",".join(matchers), "GroupBy": resource_label}

    def fill(m):
        name = m.group(1)
        assert name in fields, f"metricsQuery uses <<.{name}>>, which this test does not fill"
        return fields[name]

    return re.sub(r"<<\s*\.(\w+)\s*>>", fill, metrics_query)


def go_regex_replacement(template: str) -> str:
    """A Go regexp replacement ('triton_${1}', '$1') in Python's re.sub syntax."""
    return re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", template)


# ---------------------------------------------------------------- the server

def _get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


class PrometheusServer:
    """`prometheus` on 127.0.0.1:<port> with a temporary TSDB; stopped in ``stop()``."""

    def __init__(self, workdir: Path, port: int, scrape_configs: list[dict], rule_files: list[Path],
                 evaluation_interval: str = "1s"):
        self.workdir = Path(workdir)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = {"global": {"evaluation_interval": evaluation_interval},
                  "rule_files": [str(p) for p in rule_files], "scrape_configs": scrape_configs}
        self.config_path = self.workdir / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        check = promtool("check", "config", str(self.config_path))
        assert check.returncode == 0, f"promtool check config:\n{check.stdout}{check.stderr}\n{self.config_path.read_text()}"
        self.log_path = self.workdir / "prometheus.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "PrometheusServer":
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                [binary("prometheus"), f"--config.file={self.config_path}",
                 f"--storage.tsdb.path={self.workdir / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}",
                 "--web.enable-lifecycle", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while _get(f"{self.url}/-/ready", timeout=1)[0] != 200:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"prometheus did not become ready:\n{self.log()}")
            time.sleep(0.2)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None:
            stop_child(self.proc, timeout=30)

    def api(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params, doseq=True)
        status, body = _get(f"{self.url}/api/v1/{path}?{query}")
        assert status == 200, f"GET /api/v1/{path} {params} -> {status}: {body[:500]!r}"
        doc = json.loads(body)
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str, at: float | None = None) -> list[tuple[dict, float]]:
        """Instant vector (or scalar) -> [(labels, value)], at unix time ``at`` (default: now);
        fails on a PromQL error."""
        data = self.api("query", query=expr, **({"time": f"{at:.3f}"} if at is not None else {}))
        if data["resultType"] == "vector":
            return [(s["metric"], float(s["value"][1])) for s in data["result"]]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        raise AssertionError(f"{expr}: unexpected result type {data['resultType']}")

    def series(self, match: str) -> list[dict]:
        return self.api("series", **{"match[]": match})

    def rules(self) -> list[dict]:
        return [r for g in self.api("rules")["groups"] for r in g["rules"]]

    def targets(self) -> list[dict]:
        return self.api("targets")["activeTargets"]

    def wait_for(self, what: str, predicate, timeout: float, poll: float = 0.5):
        """Poll ``predicate()`` until it returns a truthy value; fail with ``what`` on timeout."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(poll)
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})\n{self.log()}")
