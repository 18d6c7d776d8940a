"""Results of ``tritonctl bench``: CSV in and out, the console table, the throughput/p99 plot."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from tritonctl.bench.sweep import Point, Series
from tritonctl.bench.stability import Measurement
from tritonctl.errors import ClientError

COLUMNS = [
    "label", "model", "protocol", "url", "batch_size", "concurrency", "infer_per_s", "requests_per_s",
    "p50_ms", "p95_ms", "p99_ms", "avg_ms", "requests", "errors", "windows", "stable", "client_cpu_pct",
    "client_bound",
]


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
        s.points.append(Point(int(r["concurrency"]), m, s.batch_size))
    return list(by_label.values())


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


def plot(series: list[Series], path: Path, title: str = "Throughput against p99 latency") -> Path:
    """One line per series: x = p99 latency (ms), y = throughput (infer/s), points labelled c=N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
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
