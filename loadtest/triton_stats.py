"""Triton's own statistics in a Locust run: a "Triton" tab in the web UI, live during the run, and
the same numbers in the headless report (``<--csv prefix>_triton.csv`` and a section appended to
the ``--html`` report).

Per model and version, since the run started (or the last reset): the server's average queue,
compute (input + infer + output) and overhead per request, the achieved batch size (inferences per
model execution), executions and failures, from Triton's statistics extension
(``/v2/models/stats`` over HTTP, ``ModelStatistics`` over gRPC: the protocol the run's users speak,
HTTP when both); where Triton's metrics endpoint answers (``--metrics-url``), the queue-to-compute
ratio the chart's ``queueComputeRatio`` autoscaling reads (queue duration / compute infer duration);
and next to them Locust's own average latency of the same model per protocol. When the server
cannot be reached the tab says so in its note column; the run goes on.

The arithmetic (per-request averages of the counters' differences; overhead = request time - queue -
compute, never below 0) is tritonctl's own, ``tritonctl.wire.stats``, from ``triton_wire.py``: the
generated copy this file imports, since it runs in a plain Locust image without tritonctl (the
in-cluster master of ``k8s/locust/``, whose ConfigMap carries both).

Importing this module registers ``--metrics-url`` and its listeners; the locustfile imports it
after ``triton_users`` (gevent mode first).
"""

from __future__ import annotations

import csv
import html
import io
import logging
import re
import time
import urllib.request

from triton_users import _TritonUser, grpc_client, grpc_endpoint, http_endpoint  # first: gevent mode
from triton_wire import DEFAULT_METRICS_PORT, CountersReset, diff, parse  # noqa: E402

import tritonclient.http as httpclient  # noqa: E402
from locust import events  # noqa: E402
from locust.runners import WorkerRunner  # noqa: E402

log = logging.getLogger("loadtest")

TAB_KEY = "triton"
#: the tab's columns (key, title), in the order they are shown and written to the CSV
COLUMNS = [
    ("model", "Model"), ("version", "Version"), ("requests", "Requests (Triton)"),
    ("locust_requests", "Requests (Locust)"), ("failures", "Failures"),
    ("executions", "Executions"), ("batch_size", "Batch size"), ("queue_ms", "Queue ms/req"),
    ("compute_ms", "Compute ms/req"), ("overhead_ms", "Overhead ms/req"), ("server_ms", "Server ms/req"),
    ("client_grpc_ms", "Locust avg ms (gRPC)"), ("client_http_ms", "Locust avg ms (HTTP)"),
    ("queue_compute_ratio", "Queue/compute (metrics)"), ("note", "Note"),
]
@events.init_command_line_parser.add_listener
def _add_arguments(parser):
    parser.add_argument("--metrics-url", env_var="TRITON_METRICS_URL", default="", include_in_web_ui=False,
                        help="Triton's Prometheus metrics, for the Triton tab's queue/compute ratio (default: the "
                             "host of --host on port 8002; 'off' to skip)")


# ------------------------------------------------------------------------------------------
# reading Triton's statistics and metrics
# ------------------------------------------------------------------------------------------
_METRIC = re.compile(r"^(nv_inference_queue_duration_us|nv_inference_compute_infer_duration_us)\{([^}]*)\}\s+(\S+)", re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def parse_metrics(text: str) -> dict:
    """Prometheus text -> {(model, version): {"queue_us": x, "compute_infer_us": y}} (cumulative counters)."""
    out: dict = {}
    for name, labels, value in _METRIC.findall(text):
        lab = dict(_LABEL.findall(labels))
        key = (lab.get("model", ""), lab.get("version", ""))
        out.setdefault(key, {})["queue_us" if "queue" in name else "compute_infer_us"] = float(value)
    return out


def metrics_url(option: str, http_host: str | None) -> str:
    """--metrics-url, or http://<host of --host>:8002/metrics; '' when switched off."""
    if option == "off":
        return ""
    if option:
        return option if "://" in option else f"http://{option}"
    host = http_endpoint(http_host)[0].split("/", 1)[0].rpartition(":")[0]
    return f"http://{host}:{DEFAULT_METRICS_PORT}/metrics"


class StatsSource:
    """Triton's statistics over the protocol of the run, and its metrics endpoint when it answers."""

    def __init__(self, protocol: str, url: str, ssl: bool, metrics: str):
        self.protocol, self.url, self.ssl, self.metrics = protocol, url, ssl, metrics
        self._client = None

    def describe(self) -> str:
        return f"{self.url} over {self.protocol}"

    def read(self) -> dict:
        if self._client is None:
            self._client = grpc_client(self.url, self.ssl) if self.protocol == "grpc" else \
                httpclient.InferenceServerClient(url=self.url, ssl=self.ssl, connection_timeout=3, network_timeout=3)
        if self.protocol == "grpc":
            return parse(self._client.get_inference_statistics("", as_json=True, client_timeout=3))
        return parse(self._client.get_inference_statistics(""))

    def read_metrics(self) -> dict | None:
        if not self.metrics:
            return None
        try:
            with urllib.request.urlopen(self.metrics, timeout=2) as r:
                return parse_metrics(r.read().decode(errors="replace"))
        except Exception:  # noqa: BLE001 - often not exposed (a cluster's Ingress): the ratio column says so
            return None

    def close(self):
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # noqa: BLE001
                pass
            self._client = None


def source_for(environment) -> StatsSource | None:
    """The statistics endpoint of the run: HTTP when an HTTP user runs (or none is chosen yet), else gRPC."""
    users = [u for u in (environment.user_classes or []) if issubclass(u, _TritonUser)]
    options = environment.parsed_options
    host = environment.host or next((u.host for u in users if u.host), None)
    metrics = metrics_url(getattr(options, "metrics_url", ""), host)
    if users and all(u.protocol == "grpc" for u in users):
        url, ssl = grpc_endpoint(getattr(options, "grpc_host", ""), host)
        return StatsSource("grpc", url, ssl, metrics)
    url, ssl = http_endpoint(host)
    return StatsSource("http", url, ssl, metrics)


# ------------------------------------------------------------------------------------------
# the rows: differences since the baseline, per model version
# ------------------------------------------------------------------------------------------
def _client_avg(stats, model: str, version: str, method: str):
    e = stats.entries.get((f"{model}/{version}", method)) if stats is not None else None
    return round(e.avg_response_time, 3) if e is not None and e.num_requests else ""


def _client_requests(stats, model: str, version: str):
    if stats is None:
        return ""
    return sum(e.num_requests for m in ("grpc", "http") if (e := stats.entries.get((f"{model}/{version}", m)))) or ""


def rows(before: dict, after: dict, locust_stats=None, metrics_before=None, metrics_after=None,
         metrics_where: str = "") -> list[dict]:
    """One row per model version that served or failed requests between the two snapshots."""
    out = []
    for key in sorted(after):
        try:
            br = diff(before, after, *key)
        except CountersReset:  # reloaded: its counters restarted, all of them count
            br = diff({}, after, *key)
        if not br.requests and not br.failures:
            continue
        queue, compute, server = br.queue_ms, br.compute_ms, br.request_ms
        ratio, note = "", ""
        if metrics_after is None:
            note = f"no metrics at {metrics_where}: no queue/compute ratio" if metrics_where else \
                "metrics off (--metrics-url off)"
        elif key in metrics_after:
            m0, m1 = (metrics_before or {}).get(key, {}), metrics_after[key]
            dq = m1.get("queue_us", 0.0) - m0.get("queue_us", 0.0)
            dc = m1.get("compute_infer_us", 0.0) - m0.get("compute_infer_us", 0.0)
            ratio = round(dq / dc, 3) if dc > 0 else ""
        model, version = key
        out.append({
            "model": model, "version": version, "requests": br.requests,
            "locust_requests": _client_requests(locust_stats, model, version), "failures": br.failures,
            "executions": br.executions,
            "batch_size": round(br.batch_size, 2) if br.executions else "",
            "queue_ms": round(queue, 3), "compute_ms": round(compute, 3),
            "overhead_ms": round(br.overhead_ms, 3), "server_ms": round(server, 3),
            "client_grpc_ms": _client_avg(locust_stats, model, version, "grpc"),
            "client_http_ms": _client_avg(locust_stats, model, version, "http"),
            "queue_compute_ratio": ratio, "note": note,
        })
    return out


def note_row(note: str) -> dict:
    return {**{k: "" for k, _ in COLUMNS}, "model": "-", "note": note}


class TritonView:
    """Baseline at the start of a run (and at a stats reset); rows on demand, kept after the run ends."""

    MIN_INTERVAL_S = 1.0  # the UI polls every 2 s; never read Triton more often than this

    def __init__(self, environment):
        self.environment = environment
        self.source: StatsSource | None = None
        self.baseline: dict | None = None
        self.metrics_baseline: dict | None = None
        self.current: list[dict] = [note_row("start a run to see Triton's statistics of it")]
        self._read_at = 0.0

    def start(self):
        if self.source is not None:
            self.source.close()
        self.source = source_for(self.environment)
        self.baseline, self.metrics_baseline = None, None
        self._read_at = 0.0
        try:
            self.baseline = self.source.read()
            self.metrics_baseline = self.source.read_metrics()
            self.current = [note_row(f"reading Triton's statistics at {self.source.describe()}")]
        except Exception as exc:  # noqa: BLE001 - the run goes on; the tab says why there is nothing
            self.current = [self._unreachable(exc)]

    def _unreachable(self, exc) -> dict:
        detail = exc.message() if hasattr(exc, "message") and callable(exc.message) else str(exc)
        return note_row(f"cannot reach the server at {self.source.describe()} ({str(detail).strip()[:200]})")

    def refresh(self, force: bool = False) -> list[dict]:
        if self.source is None:
            return self.current
        if not force and time.monotonic() - self._read_at < self.MIN_INTERVAL_S:
            return self.current
        self._read_at = time.monotonic()
        try:
            now = self.source.read()
            if self.baseline is None:  # unreachable at the start: count from the first answer
                self.baseline, self.metrics_baseline = now, self.source.read_metrics()
            found = rows(self.baseline, now, self.environment.stats, self.metrics_baseline, self.source.read_metrics(),
                         self.source.metrics)
            self.current = found or [note_row(f"no requests reached Triton at {self.source.describe()} yet")]
        except Exception as exc:  # noqa: BLE001
            self.current = [self._unreachable(exc)]
        return self.current

    def csv_text(self) -> str:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=[k for k, _ in COLUMNS])
        w.writeheader()
        w.writerows(self.current)
        return buf.getvalue()

    def html_section(self) -> str:
        head = "".join(f"<th>{html.escape(t)}</th>" for _, t in COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(k, '')))}</td>" for k, _ in COLUMNS) + "</tr>"
                       for r in self.current)
        where = self.source.describe() if self.source else "?"
        return (f'<section id="triton-statistics" style="font-family:sans-serif;margin:2em">'
                f"<h2>Triton statistics ({html.escape(where)}), per request since the run started</h2>"
                f'<table border="1" cellpadding="4" style="border-collapse:collapse">'
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>")


# ------------------------------------------------------------------------------------------
# wiring: the web UI tab, the run's start/stop, the headless report
# ------------------------------------------------------------------------------------------
_views: dict[int, TritonView] = {}


def view_of(environment) -> TritonView:
    v = _views.get(id(environment))
    if v is None:
        v = _views[id(environment)] = TritonView(environment)
    return v


@events.init.add_listener
def _on_init(environment, **_kw):
    if isinstance(environment.runner, WorkerRunner) or environment.web_ui is None:
        return
    from flask import make_response, request

    web_ui = environment.web_ui
    web_ui.template_args["extended_tabs"] = [{"title": "Triton", "key": TAB_KEY}]
    web_ui.template_args["extended_tables"] = [{"key": TAB_KEY, "structure": [{"key": k, "title": t} for k, t in COLUMNS]}]
    web_ui.template_args["extended_csv_files"] = [{"href": "./triton/csv", "title": "Download Triton statistics CSV"}]

    @web_ui.app.after_request
    def _add_triton_rows(response):
        if request.path.rstrip("/").endswith("/stats/requests") and response.is_json:
            import json

            data = response.get_json()
            data["extended_stats"] = [{"key": TAB_KEY, "data": view_of(environment).refresh()}]
            response.set_data(json.dumps(data))
        return response

    @web_ui.app.route("/triton/csv")
    def _triton_csv():
        v = view_of(environment)
        v.refresh(force=True)
        resp = make_response(v.csv_text())
        resp.headers["Content-Type"] = "text/csv"
        resp.headers["Content-Disposition"] = f"attachment;filename=triton_stats_{int(time.time())}.csv"
        return resp


@events.test_start.add_listener
def _on_test_start(environment, **_kw):
    if not isinstance(environment.runner, WorkerRunner):
        view_of(environment).start()


@events.reset_stats.add_listener
def _on_reset_stats(*_a, **_kw):
    for v in _views.values():
        if v.source is not None:
            v.start()


@events.test_stop.add_listener
def _on_test_stop(environment, **_kw):
    if not isinstance(environment.runner, WorkerRunner):
        view_of(environment).refresh(force=True)  # the run's final numbers, while the server is still up


@events.quitting.add_listener
def _on_quitting(environment, **_kw):
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    v = _views.get(id(environment))
    if v is None or v.source is None:
        return
    o = environment.parsed_options
    for r in v.current:
        log.info("triton %s/%s: %s", r["model"], r["version"] or "-",
                 ", ".join(f"{k}={r[k]}" for k, _ in COLUMNS[2:] if r.get(k) != ""))
    if getattr(o, "csv_prefix", None):
        with open(f"{o.csv_prefix}_triton.csv", "w", newline="") as f:
            f.write(v.csv_text())
    html_file = getattr(o, "html_file", None)
    if html_file:
        try:
            with open(html_file, encoding="utf-8") as f:
                page = f.read()
        except OSError:  # Locust writes it before quitting; nothing to add to when it did not
            return
        section = v.html_section()
        page = page.replace("</body>", section + "</body>", 1) if "</body>" in page else page + section
        with open(html_file, "w", encoding="utf-8") as f:
            f.write(page)
    v.source.close()
