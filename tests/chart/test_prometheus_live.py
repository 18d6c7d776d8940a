"""Every query the chart ships, against a real Prometheus scraping a real local Triton under load.

Triton runs with the rendered container's args (CPU-only scenario, tests/chart/podkit.py) and
serves the example digits family; Prometheus (Debian's package) scrapes it with the scrape job
the rendered ServiceMonitor describes (its relabelings applied to the pod's service-discovery
labels) every second and evaluates the rendered PrometheusRule. The project's load generator
(tritonctl.bench: prepare / AioClient / measure_level) drives digits, plus a stream of
digits_pipeline requests with bytes that are no image (they fail in the Python preprocess).

Checked through /api/v1/query, under load and again at idle: every recording rule, every alert
expression, the prometheus-adapter metricsQuery filled as the adapter fills it, each KEDA
trigger query against its threshold, and every Grafana panel expression with its variables
filled. GPU metric names, which a CPU-only Triton cannot expose, are checked against
tests/chart/triton_gpu_metrics.yaml (sourced from Triton's metrics documentation).
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import re
import threading
import time

import numpy as np
import pytest
import yaml

import helm_engine
import podkit
import promkit
from manifest_lookup import SCENARIOS, find

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRAPE = "1s"
RATE_WINDOW = "4s"  # the shortest the chart accepts at a 1 s scrape (>= 4 x interval)
FAST = {"metrics": {"rateWindow": RATE_WINDOW,
                    "serviceMonitor": {"interval": SCRAPE, "scrapeTimeout": SCRAPE},
                    "podMonitor": {"interval": SCRAPE}}}
# Alert thresholds low enough that the load below crosses them: the alert expressions then
# return series under load (and the queue-time one none at idle).
ALERTS = {"metrics": {"prometheusRule": {"enabled": True, "alerts": {
    "enabled": True, "queueTimeMicroseconds": 1, "failureRatio": 0.01}}, "dashboard": {"enabled": True}}}
POD = "triton-5d8c7b9f4-x7k2p"  # a ReplicaSet pod name, as the Deployment's pods get
LOAD_CONCURRENCY = 8
GPU_METRICS = yaml.safe_load((helm_engine.ROOT / "tests" / "chart" / "triton_gpu_metrics.yaml").read_text())
ADAPTER_VALUES = helm_engine.ROOT / "k8s" / "prometheus-adapter" / "values.yaml"


def merged(*layers: dict) -> dict:
    out: dict = {}
    for layer in layers:
        _merge(out, copy.deepcopy(layer))
    return out


def _merge(into: dict, layer: dict) -> None:
    for k, v in layer.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def scenario(name: str) -> dict:
    return yaml.safe_load(SCENARIOS[name].read_text()) or {}


def uses_gpu_metrics(expr: str) -> bool:
    return bool(re.search(r"\bnv_(gpu|energy)_", expr))


# ---------------------------------------------------------------- what the chart renders

@pytest.fixture(scope="module")
def release(render):
    """The release under test: CPU-only, HPA through prometheus-adapter, rules, alerts, dashboard."""
    return render(merged(scenario("cpu-only-values"), scenario("autoscaling-adapter-values"), FAST, ALERTS))


@pytest.fixture(scope="module")
def keda_triggers(render):
    """{autoscaling metric: (query, threshold)} of the rendered ScaledObject, per metric."""
    out = {}
    for metric in ("queueTimePerRequest", "queueComputeRatio", "gpuUtilization"):
        values = merged(scenario("cpu-only-values") if metric != "gpuUtilization" else {},
                        scenario("keda-values"), FAST, {"autoscaling": {"metric": metric}})
        trigger = find(render(values), "ScaledObject")["spec"]["triggers"][0]
        out[metric] = (trigger["metadata"]["query"], trigger["metadata"]["threshold"])
    return out


def dashboard_queries(objs: list[dict]) -> list[tuple[str, str, str | None]]:
    """[(panel title, expr, unit)] of the dashboard the chart renders."""
    cm = next(o for o in objs if o["kind"] == "ConfigMap" and any(k.endswith(".json") for k in o.get("data", {})))
    dash = json.loads(next(v for k, v in cm["data"].items() if k.endswith(".json")))
    out = []
    for panel in dash["panels"]:
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
        out += [(panel["title"], t["expr"], unit) for t in panel.get("targets", []) if t.get("expr")]
    return dash, out


# ---------------------------------------------------------------- the stack

@pytest.fixture(scope="module")
def triton(release, example_repository, tmp_path_factory):
    with podkit.start_chart_triton(release, example_repository, tmp_path_factory.mktemp("live-triton"),
                                   sandbox=False) as server:
        yield server


@pytest.fixture(scope="module")
def prometheus(release, triton, tmp_path_factory):
    from tritonctl.server import launcher

    workdir = tmp_path_factory.mktemp("prometheus")
    rule_paths = []
    for n, rules in enumerate(promkit.rule_files(release).values()):
        rule_paths.append(workdir / f"rules-{n}.yaml")
        rule_paths[-1].write_text(yaml.safe_dump(rules, sort_keys=False))
    job = promkit.scrape_config(release, f"localhost:{triton.ports['metrics']}", POD)
    server = promkit.PrometheusServer(workdir, launcher.free_port(), [job], rule_paths).start()
    try:
        yield server
    finally:
        server.stop()


class Load:
    """The project's closed-loop load generator (tritonctl.bench), on a background event loop."""

    def __init__(self, grpc_url: str):
        from tritonctl.bench import sweep

        self.sweep = sweep
        self.target = sweep.parse_target(f"grpc://{grpc_url}")[0]
        self.plan = sweep.prepare(self.target, "digits")
        # digits_pipeline with bytes that are no image: the Python preprocess fails each one.
        self.bad = sweep.PreparedRequest("digits_pipeline", "1",
                                         {"IMAGE": np.array([[b"not a png"]], dtype=np.object_)},
                                         {"IMAGE": "BYTES"}, ["LABELS", "SCORES"], 1)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.task = None
        self.result = None

    async def _run(self):
        client = self.sweep.AioClient(self.target, LOAD_CONCURRENCY + 1)
        try:
            good = self.sweep.measure_level(self.plan.send_on(client), LOAD_CONCURRENCY, window_s=600, warmup_s=0)
            bad = self.sweep.measure_level(self.bad.send_on(client), 1, window_s=600, warmup_s=0,
                                           raise_if_all_fail=False)
            return await asyncio.gather(good, bad)
        finally:
            await client.close()

    def start(self):
        self.thread.start()
        self.task = asyncio.run_coroutine_threadsafe(self._run(), self.loop)

    def stop(self):
        if self.task:
            self.loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(self.loop)])
            try:
                self.task.result(timeout=30)
            except BaseException:  # noqa: BLE001 - cancelled on purpose
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


# ---------------------------------------------------------------- queries

def adapter_rule_for(metric: str, prometheus) -> tuple[dict, str] | None:
    """The prometheus-adapter rule (k8s/prometheus-adapter) serving ``metric`` and the series
    behind it, discovered as the adapter discovers: seriesQuery, then name matches/as."""
    rules = yaml.safe_load(ADAPTER_VALUES.read_text())["rules"]["custom"]
    for rule in rules:
        for s in prometheus.series(rule["seriesQuery"]):
            name = s["__name__"]
            if re.search(rule["name"]["matches"], name) and re.sub(
                    rule["name"]["matches"], promkit.go_regex_replacement(rule["name"]["as"]), name) == metric:
                return rule, name
    return None


def grafana_fill(expr: str, variables: dict[str, str]) -> str:
    def sub(m):
        name = m.group(1) or m.group(2) or m.group(3)
        assert name in variables, f"dashboard variable ${name} is not filled by this test: {expr}"
        return variables[name]

    filled = re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", sub, expr)
    assert "$" not in filled, filled
    return filled


def collect_queries(release, keda_triggers, prometheus) -> dict[str, str]:
    """name -> PromQL, everything the chart ships that Prometheus can evaluate here."""
    queries = {}
    for rules in promkit.rule_files(release).values():
        for rule in promkit.rules_of(rules):
            kind = "record" if "record" in rule else "alert"
            if uses_gpu_metrics(rule["expr"]):
                continue
            queries[f"{kind} {rule.get('record') or rule.get('alert')}"] = rule["expr"].strip()
            if kind == "record":  # and the recorded series itself
                queries[f"recorded {rule['record']}"] = rule["record"]
    hpa = find(release, "HorizontalPodAutoscaler")
    metric = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
    rule, series = prometheus.wait_for(
        f"a prometheus-adapter rule in k8s/prometheus-adapter/values.yaml to serve {metric} from a recorded series",
        lambda: adapter_rule_for(metric, prometheus), 60)
    queries[f"adapter {metric}"] = promkit.adapter_query(rule["metricsQuery"], series, hpa["metadata"]["namespace"], [POD])
    for metric, (query, _threshold) in keda_triggers.items():
        if not uses_gpu_metrics(query):
            queries[f"keda {metric}"] = query
    return queries


def sample(prometheus, queries: dict[str, str]) -> dict[str, list[tuple[dict, float]]]:
    """Every query at one instant, a scrape interval back (so no scrape still in flight can
    change it between two queries): the values of a snapshot belong together."""
    at = time.time() - 2 * promkit.seconds(SCRAPE)
    return {name: prometheus.query(expr, at=at) for name, expr in queries.items()}


@pytest.fixture(scope="module")
def observed(release, keda_triggers, triton, prometheus):
    """Values of every query under load and at idle, waiting on state, never on a fixed sleep."""
    up = 'up{pod="%s"}' % POD
    prometheus.wait_for("Prometheus to scrape the Triton target", lambda: [v for _, v in prometheus.query(up) if v == 1], 60)
    dash, panels = dashboard_queries(release)
    variables = {"namespace": "triton", "release": "triton",
                 "__rate_interval": promkit.grafana_rate_interval(promkit.seconds(SCRAPE), promkit.seconds(SCRAPE)),
                 "__interval": SCRAPE, "datasource": "prometheus"}
    panel_queries = {f"panel {title} #{n}": grafana_fill(expr, variables) for n, (title, expr, _) in enumerate(panels)}
    records = {r["record"] for rules in promkit.rule_files(release).values() for r in promkit.rules_of(rules) if "record" in r}
    signal = "recorded " + next(n for n in sorted(records) if "queue_time_per_request" in n)  # the HPA's signal

    load = Load(triton.grpc)
    load.start()
    try:
        queries = collect_queries(release, keda_triggers, prometheus)
        queries.update({k: v for k, v in panel_queries.items() if not uses_gpu_metrics(v)})
        expected_empty = {"alert TritonServerDown", "alert TritonModelsNotReady"}  # up, and no kube-state-metrics here

        def all_answer():
            got = sample(prometheus, queries)
            missing = [n for n, r in got.items() if not r and n not in expected_empty]
            return got if not missing else None

        under_load = prometheus.wait_for("every query to return series under load", all_answer, 90)
    finally:
        load.stop()

    def idle():
        got = sample(prometheus, queries)
        return got if all(v == 0 for _, v in got[signal]) else None

    at_idle = prometheus.wait_for("the autoscaling signal to fall back at idle", idle, 60)
    report = [f"{'query':70} {'under load':>28} {'idle':>28}"]
    for name in queries:
        def fmt(result):
            return ", ".join(f"{v:.4g}" for _, v in result[:3]) + (" ..." if len(result) > 3 else "") or "(none)"
        report.append(f"{name[:70]:70} {fmt(under_load[name]):>28} {fmt(at_idle[name]):>28}")
    print("\n" + "\n".join(report))
    return {"queries": queries, "load": under_load, "idle": at_idle, "panels": panels, "dashboard": dash,
            "signal": signal, "variables": variables}


# ---------------------------------------------------------------- tests

def _finite_nonnegative(results):
    return all(math.isfinite(v) and v >= 0 for _, v in results)


def test_every_recording_rule_should_record_sane_per_pod_series_under_load(observed):
    for name, results in observed["load"].items():
        if not name.startswith("recorded "):
            continue
        assert results, f"{name}: nothing recorded"
        assert _finite_nonnegative(results), (name, results)
        assert {r["pod"] for r, _ in results} == {POD}, (name, results)
        assert all(r["namespace"] == "triton" and r["app_kubernetes_io_instance"] == "triton" for r, _ in results)


def test_every_rule_should_evaluate_without_error(prometheus, observed):
    rules = prometheus.rules()
    assert rules and all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]


def test_the_queue_time_signal_should_rise_under_load_and_fall_back_at_idle(observed):
    signal = observed["signal"]
    (labels, loaded), = observed["load"][signal]
    (_, idle), = observed["idle"][signal]
    assert 0 < loaded < 10_000_000, loaded  # microseconds a request waits: some, under ten seconds
    assert idle == 0
    adapter = next(n for n in observed["load"] if n.startswith("adapter "))
    assert [v for _, v in observed["load"][adapter]] == [loaded]  # the adapter serves the recorded value
    assert observed["idle"][adapter][0][1] == 0


def test_the_adapter_metrics_query_should_return_one_value_for_the_pod_as_the_hpa_asks(observed, release):
    adapter = next(n for n in observed["load"] if n.startswith("adapter "))
    results = observed["load"][adapter]
    assert [r for r, _ in results] == [{"pod": POD}], results
    target = float(find(release, "HorizontalPodAutoscaler")["spec"]["metrics"][0]["pods"]["target"]["averageValue"])
    assert target > 0 and math.isfinite(results[0][1])


def test_each_keda_query_should_return_one_fleet_value_comparable_with_its_threshold(observed, keda_triggers):
    for metric, (query, threshold) in keda_triggers.items():
        value = float(threshold)  # KEDA parses the threshold with strconv.ParseFloat
        assert value > 0, (metric, threshold)
        if uses_gpu_metrics(query):
            continue
        (labels, loaded), = observed["load"][f"keda {metric}"]
        (_, idle), = observed["idle"][f"keda {metric}"]
        assert labels == {} and math.isfinite(loaded) and loaded > 0, (metric, loaded)
        assert idle == 0, (metric, idle)
        print(f"keda {metric}: {loaded:.4g} under load, {idle} idle; threshold {value} -> "
              f"{math.ceil(loaded / value)} replicas wanted under load")


def test_the_alert_expressions_should_select_this_releases_series(observed):
    load, idle = observed["load"], observed["idle"]
    assert [r.get("pod") for r, _ in load["alert TritonQueueTimeHigh"]] == [POD]
    assert idle["alert TritonQueueTimeHigh"] == []
    failing = {r["model"] for r, _ in load["alert TritonRequestFailures"]}
    assert "digits_pipeline" in failing and "digits" not in failing, failing
    assert load["alert TritonServerDown"] == []  # the target is up


def test_every_dashboard_panel_should_show_sane_values_under_load(observed):
    checked = 0
    for n, (title, expr, unit) in enumerate(observed["panels"]):
        if uses_gpu_metrics(expr):
            continue
        results = observed["load"][f"panel {title} #{n}"]
        assert results and _finite_nonnegative(results), (title, results)
        values = [v for _, v in results]
        if unit == "percentunit":
            assert all(v <= 1 for v in values), (title, values)
        if unit == "µs":
            assert all(v < 10_000_000 for v in values), (title, values)
        if title == "Pods serving":
            assert values == [1], values
        if title.startswith("Average batch size"):
            assert all(1 <= v <= 32 for v in values if v), (title, values)
        checked += 1
    assert checked >= 10
    by_model = next(v for k, v in observed["load"].items() if k.startswith("panel Failed requests / s by model"))
    failing = {r["model"] for r, v in by_model if v > 0}
    assert "digits_pipeline" in failing and "digits" not in failing, failing  # only the bad-image stream fails


def test_the_dashboard_variables_should_offer_this_namespace_and_release(observed, prometheus):
    """label_values(metric, label) as Grafana's Prometheus datasource resolves it (/api/v1/label/<label>/values)."""
    for var in observed["dashboard"]["templating"]["list"]:
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query or "")
        if not m:
            continue
        match = grafana_fill(m.group(1), {k: v for k, v in observed["variables"].items()})
        values = prometheus.api(f"label/{m.group(2)}/values", **{"match[]": match})
        assert observed["variables"][var["name"]] in values, (var["name"], values)


def test_every_gpu_metric_the_chart_uses_should_be_one_triton_documents(observed, keda_triggers, release):
    documented = GPU_METRICS["metrics"]
    exprs = [e for _, e, _ in observed["panels"]] + [q for q, _ in keda_triggers.values()]
    exprs += [r["expr"] for rules in promkit.rule_files(release).values() for r in promkit.rules_of(rules)]
    used = {m for e in exprs for m in re.findall(r"\bnv_(?:gpu|energy)_[a-z_]+", e)}
    assert used, "the chart should query GPU metrics (GPU autoscaling, dashboard)"
    assert used <= set(documented), f"not in Triton's metrics documentation: {sorted(used - set(documented))}"
    for e in exprs:  # counters only through rate()/increase(), gauges never through them
        for name in re.findall(r"\bnv_(?:gpu|energy)_[a-z_]+", e):
            wrapped = re.search(rf"(rate|increase|irate)\(\s*{name}\b", e)
            assert bool(wrapped) == (documented[name]["type"] == "counter"), (name, e)
    gpu_panels = [e for _, e, _ in observed["panels"] if uses_gpu_metrics(e)]
    assert all(GPU_METRICS["label"] in e for e in gpu_panels if "by (" in e), gpu_panels
    target = float(keda_triggers["gpuUtilization"][1])
    assert documented["nv_gpu_utilization"]["min"] < target <= documented["nv_gpu_utilization"]["max"], target


def test_the_server_down_alert_expression_should_fire_once_triton_stops(observed, triton, prometheus):
    """Last in this module: it stops the server every other test here reads."""
    expr = observed["queries"]["alert TritonServerDown"]
    assert prometheus.query(expr) == []
    triton.stop()
    fired = prometheus.wait_for("TritonServerDown's expression to fire once the target is down",
                                lambda: prometheus.query(expr), 30)
    assert [v for _, v in fired] == [0]  # "(sum(up) or vector(0)) == 0": no pod of the release is up
