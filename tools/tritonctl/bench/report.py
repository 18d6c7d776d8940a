"""Results of ``tritonctl bench``: CSV in and out, the console table, the throughput/p99 plot and,
per level, where the average request's time went (Triton's statistics, ``tritonctl.stats``)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from tritonctl.bench.sweep import Point, Series
from tritonctl.bench.stability import Measurement
from tritonctl.errors import ClientError
from tritonctl.wire.stats import PARTS, Breakdown

COLUMNS = [
    "label", "model", "protocol", "url", "batch_size", "concurrency", "infer_per_s", "requests_per_s",
    "p50_ms", "p95_ms", "p99_ms", "avg_ms", "requests", "errors", "windows", "stable", "client_cpu_pct",
    "client_bound",
    # Triton's side of the same windows, per successful request (tritonctl.stats); empty without it
    "server_requests", "server_request_ms", "server_queue_ms", "server_compute_input_ms", "server_compute_infer_ms",
    "server_compute_output_ms", "server_overhead_ms", "client_outside_ms", "server_batch_size",
]
SERVER_COLUMNS = COLUMNS[COLUMNS.index("server_requests"):]


def server_cells(p: Point) -> dict:
    """The breakdown columns of one level (empty strings when the server's statistics were not read)."""
    b = p.server
    if b is None:
        return {k: "" for k in SERVER_COLUMNS}
    return {
        "server_requests": b.requests, "server_request_ms": round(b.request_ms, 4),
        **{f"server_{k}_ms": round(v, 4) for k, v in b.parts_ms().items()},
        "client_outside_ms": round(b.outside_ms(p.m.avg_ms), 4),
        "server_batch_size": round(b.batch_size, 3) if b.executions else "",
    }


def rows(series: list[Series]) -> list[dict]:
    out = []
    for s in series:
        for p in s.points:
            m = p.m
            out.append({
                "label": s.label, "model": s.model, "protocol": s.protocol, "url": s.url,
                "batch_size": s.batch_size, "concurrency": p.concurrency,
                "infer_per_s": round(p.infer_per_s, 2), "requests_per_s": round(m.throughput, 2),
                "p50_ms": round(m.p50_ms, 3), "p95_ms": round(m.p95_ms, 3), "p99_ms": round(m.p99_ms, 3),
                "avg_ms": round(m.avg_ms, 3), "requests": m.requests, "errors": m.errors, "windows": m.windows,
                "stable": m.stable, "client_cpu_pct": round(m.client_cpu_pct, 1), "client_bound": p.client_bound,
                **server_cells(p),
            })
    return out


def write_csv(series: list[Series], path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows(series))
    return path


def read_csv(path: Path, label_suffix: str = "") -> list[Series]:
    """Series from a CSV written by ``write_csv`` (e.g. an earlier run, to compare with)."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            data = list(csv.DictReader(f))
    except OSError as exc:
        raise ClientError(f"cannot read bench results {path}: {exc.strerror}") from None
    missing = {"label", "concurrency", "infer_per_s", "p99_ms"} - set(data[0] if data else {})
    if not data or missing:
        raise ClientError(f"{path} is not a `tritonctl bench` CSV (missing columns: {sorted(missing) or 'all rows'})")
    by_label: dict[str, Series] = {}
    for r in data:
        label = r["label"] + label_suffix
        s = by_label.setdefault(label, Series(label, r.get("model", ""), r.get("protocol", ""), r.get("url", ""),
                                              int(float(r.get("batch_size") or 1))))
        f = lambda k: float(r.get(k) or "nan")  # noqa: E731
        m = Measurement(
            requests=int(f("requests")) if r.get("requests") else 0, errors=int(f("errors")) if r.get("errors") else 0,
            duration_s=float("nan"), throughput=f("requests_per_s"), avg_ms=f("avg_ms"), p50_ms=f("p50_ms"),
            p95_ms=f("p95_ms"), p99_ms=f("p99_ms"), stable=str(r.get("stable")) == "True",
            windows=int(f("windows")) if r.get("windows") else 0, client_cpu_pct=f("client_cpu_pct"),
        )
        s.points.append(Point(int(r["concurrency"]), m, s.batch_size, _breakdown_from_row(r, s.model)))
    return list(by_label.values())


def _breakdown_from_row(r: dict, model: str) -> Breakdown | None:
    if not r.get("server_request_ms"):
        return None
    f = lambda k: float(r.get(k) or 0.0)  # noqa: E731
    n = int(f("server_requests"))
    batch = f("server_batch_size") or float("nan")
    # executions are not in the CSV: keep the ratio by scaling inferences to the requests' samples
    inferences = n * int(float(r.get("batch_size") or 1))
    return Breakdown(model, "", n, 0, inferences, round(inferences / batch) if batch == batch and batch else 0,
                     f("server_request_ms"), f("server_queue_ms"), f("server_compute_input_ms"),
                     f("server_compute_infer_ms"), f("server_compute_output_ms"))


def table(series: list[Series], title: str = "tritonctl bench"):
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col, just in (("series", "left"), ("conc.", "right"), ("infer/s", "right"), ("p50 ms", "right"),
                      ("p95 ms", "right"), ("p99 ms", "right"), ("errors", "right"), ("stable", "center"),
                      ("client cpu", "right")):
        t.add_column(col, justify=just)
    for s in series:
        for p in s.points:
            cpu = f"{p.m.client_cpu_pct:.0f}%" + (" (bound)" if p.client_bound else "")
            t.add_row(s.label, str(p.concurrency), f"{p.infer_per_s:.0f}", f"{p.m.p50_ms:.2f}", f"{p.m.p95_ms:.2f}",
                      f"{p.m.p99_ms:.2f}", str(p.m.errors), "yes" if p.m.stable else "no", cpu)
    return t


def breakdown_table(series: list[Series], title: str = "where the time goes (ms per request, averages)"):
    """Per level: the client's average latency split into Triton's parts and the time outside it.

    queue + compute input + compute infer + compute output + overhead = the server's request time;
    that + outside = the client's average latency. Levels without statistics are left out.
    """
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for col in ("series", "conc.", "client avg", "queue", "compute in", "compute infer", "compute out",
                "overhead", "= server", "outside server", "batch"):
        t.add_column(col, justify="left" if col == "series" else "right")
    for s in series:
        for p in s.points:
            b = p.server
            if b is None:
                continue
            t.add_row(s.label, str(p.concurrency), f"{p.m.avg_ms:.3f}", f"{b.queue_ms:.3f}", f"{b.compute_input_ms:.3f}",
                      f"{b.compute_infer_ms:.3f}", f"{b.compute_output_ms:.3f}", f"{b.overhead_ms:.3f}",
                      f"{b.request_ms:.3f}", f"{b.outside_ms(p.m.avg_ms):.3f}",
                      f"{b.batch_size:.2f}" if b.executions else "-")
    return t


#: plot colours of the stacked parts (server parts, then the client's time outside the server)
_PART_COLORS = {"queue": "#d62728", "compute_input": "#9467bd", "compute_infer": "#1f77b4",
                "compute_output": "#17becf", "overhead": "#ff7f0e", "outside": "#7f7f7f"}


def _stacked_breakdown(ax, series: list[Series]) -> bool:
    """One stacked bar per series and level: Triton's parts, then the client's time outside the server."""
    bars = [(s, p) for s in series for p in s.points if p.server is not None and not math.isnan(p.m.avg_ms)]
    if not bars:
        return False
    xs = range(len(bars))
    bottoms = [0.0] * len(bars)
    for part in PARTS + ("outside",):
        hs = [max(0.0, p.server.outside_ms(p.m.avg_ms)) if part == "outside" else p.server.parts_ms()[part]
              for _, p in bars]
        ax.bar(xs, hs, bottom=bottoms, color=_PART_COLORS[part], label="outside the server" if part == "outside" else part.replace("_", " "), width=0.7)
        bottoms = [b + h for b, h in zip(bottoms, hs)]
    for x, (_, p) in zip(xs, bars):
        if p.server.executions:
            ax.annotate(f"b={p.server.batch_size:.1f}", (x, bottoms[x]), textcoords="offset points", xytext=(0, 2),
                        ha="center", fontsize=7)
    multi = len(series) > 1
    ax.set_xticks(list(xs))
    ax.set_xticklabels([(f"{s.label}\n" if multi else "") + f"c={p.concurrency}" for s, p in bars], fontsize=7,
                       rotation=30 if multi else 0, ha="right" if multi else "center")
    ax.set_ylabel("average latency per request (ms)")
    ax.set_title("where the time goes (b = achieved batch size)")
    ax.legend(fontsize=7)
    ax.grid(True, axis="y", alpha=0.3)
    return True


def plot(series: list[Series], path: Path, title: str = "Throughput against p99 latency") -> Path:
    """One line per series: x = p99 latency (ms), y = throughput (infer/s), points labelled c=N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with_breakdown = any(p.server is not None for s in series for p in s.points)
    fig, axes = plt.subplots(1, 2 if with_breakdown else 1, figsize=(14 if with_breakdown else 8, 5), dpi=110)
    ax = axes[0] if with_breakdown else axes
    if with_breakdown:
        _stacked_breakdown(axes[1], series)
    for s in series:
        pts = [p for p in s.points if not math.isnan(p.m.p99_ms)]
        xs, ys = [p.m.p99_ms for p in pts], [p.infer_per_s for p in pts]
        line, = ax.plot(xs, ys, marker="o", label=s.label)
        for p, x, y in zip(pts, xs, ys):
            ax.annotate(f"c={p.concurrency}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7,
                        color=line.get_color())
        unstable = [(x, y) for p, x, y in zip(pts, xs, ys) if not p.m.stable]
        if unstable:
            ax.scatter(*zip(*unstable), marker="x", s=60, color=line.get_color())
    ax.set_xlabel("p99 latency (ms)")
    ax.set_ylabel("throughput (inferences/s)")
    ax.set_title(title + ("  (x: not stable)" if any(not p.m.stable for s in series for p in s.points) else ""))
    ax.grid(True, alpha=0.3)
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
