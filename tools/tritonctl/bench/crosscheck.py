"""tritonctl bench's cross-check against perf_analyzer, Triton's own load generator.

``interleaved`` measures one model level by level with both tools (``repeat`` rounds, alternating
which goes first) and ``report`` compares them: a verdict per level (agree, client-bound,
unstable, DISAGREE), a table, and a CSV beside the sweep's. Both tools read Triton's statistics
for the same windows they measure, so the report also puts the two server-side breakdowns
(queue, compute input / infer / output, overhead, batch size) side by side.
"""

from __future__ import annotations


def interleaved(cfg, console, state_dir, repeat: int = 1):
    """tritonctl bench and perf_analyzer level by level (``--repeat`` rounds), alternating which goes first.

    On a shared machine the load beside us drifts within minutes; measuring both tools at the
    same level back to back keeps them under the same conditions.
    """
    import dataclasses

    from tritonctl import client as tc
    from tritonctl.bench import perf_analyzer as pa
    from tritonctl.bench.stability import Measurement
    from tritonctl.bench.sweep import Point, Series, sweep

    tool = pa.ensure_installed(state_dir)
    t = cfg.target
    c = tc.make_client(f"{t.protocol}://{t.url}")
    try:
        config = tc.get_config(c, cfg.model, cfg.version)
    finally:
        c.close()
    ours = Series(cfg.label, cfg.model, t.protocol, t.url, cfg.batch_size)
    theirs = Series(f"perf_analyzer {cfg.label}", cfg.model, t.protocol, t.url, cfg.batch_size)
    results = []
    for i, level in enumerate(cfg.concurrency):
        def run_ours():
            # the same ladder as perf_analyzer's wrapper: a longer window, then a looser rule
            w, pct = cfg.window_s, cfg.rule.percentage
            for win, p in ((w, pct), (w * 2, pct), (w * 2, pct * 2)):
                rule = dataclasses.replace(cfg.rule, percentage=p)
                with console.status(f"tritonctl bench {cfg.label} c={level}") as status:
                    s = sweep(dataclasses.replace(cfg, concurrency=[level], window_s=win, rule=rule),
                              progress=lambda m: status.update(m))
                if s.points[0].m.stable:
                    break
            ours.batch_size = s.batch_size
            mine.append(s.points[0])

        def run_theirs():
            with console.status(f"perf_analyzer {cfg.label} c={level}") as status:
                r = pa.run(tool, cfg.model, t.url, t.protocol, [level], batch_size=cfg.batch_size,
                           window_ms=int(cfg.window_s * 1000), stability_pct=cfg.rule.percentage,
                           max_trials=cfg.rule.max_windows, config=config, dynamic_dim=cfg.dynamic_dim,
                           progress=lambda m: status.update(m))[0]
            other.append(r)

        mine, other = [], []
        for rep in range(max(1, repeat)):
            for step in ((run_ours, run_theirs) if (i + rep) % 2 == 0 else (run_theirs, run_ours)):
                step()
        # several rounds: each tool reported by its median round (robust to one disturbed round)
        p = sorted(mine, key=lambda x: x.infer_per_s)[(len(mine) - 1) // 2]
        r = sorted(other, key=lambda x: x.infer_per_s if x.infer_per_s == x.infer_per_s else -1)[(len(other) - 1) // 2]
        ours.points.append(p)
        results.append(r)
        bs = max(cfg.batch_size, 1)
        theirs.points.append(Point(level, Measurement(
            requests=0, errors=0, duration_s=float("nan"), throughput=r.infer_per_s / bs, avg_ms=r.avg_ms,
            p50_ms=r.p50_ms, p95_ms=r.p95_ms, p99_ms=r.p99_ms, stable=r.stable, windows=0,
            client_cpu_pct=float("nan")), bs, r.server))
    return ours, theirs, results


def report(checks, console, out, name: str, tolerance_pct: float) -> int:
    """A table per series and ``<name>_vs_perf_analyzer.csv``; returns 1 when the tools disagree by
    more than ``tolerance_pct`` at a level where the client is not the bottleneck, else 0."""
    import csv
    import math

    from rich.table import Table

    code = 0
    rows = []
    for s, results in checks:
        t = Table(title=f"{s.label}: tritonctl bench vs perf_analyzer", title_justify="left")
        for col in ("conc.", "bench infer/s", "perf_analyzer infer/s", "diff", "bench p99 ms", "pa p99 ms",
                    "bench client cpu", "verdict"):
            t.add_column(col, justify="right")
        for p, r in zip(s.points, results):
            diff = (p.infer_per_s - r.infer_per_s) / r.infer_per_s * 100 if r.infer_per_s and not math.isnan(r.infer_per_s) else float("nan")
            if math.isnan(diff) or not r.stable:
                verdict = "pa unstable"
            elif not p.m.stable:
                verdict = "bench unstable"
            elif abs(diff) <= tolerance_pct:
                verdict = "agree"
            elif p.client_bound:
                verdict = "client-bound"
            else:
                verdict = "DISAGREE"
                code = 1
            t.add_row(str(p.concurrency), f"{p.infer_per_s:.0f}", f"{r.infer_per_s:.0f}", f"{diff:+.1f}%",
                      f"{p.m.p99_ms:.2f}", f"{r.p99_ms:.2f}", f"{p.m.client_cpu_pct:.0f}%", verdict)
            rows.append({"series": s.label, "model": s.model, "protocol": s.protocol, "concurrency": p.concurrency,
                         "bench_infer_per_s": round(p.infer_per_s, 2), "pa_infer_per_s": round(r.infer_per_s, 2),
                         "diff_pct": round(diff, 2), "bench_p99_ms": round(p.m.p99_ms, 3),
                         "pa_p99_ms": round(r.p99_ms, 3), "bench_p50_ms": round(p.m.p50_ms, 3),
                         "pa_p50_ms": round(r.p50_ms, 3), "bench_client_cpu_pct": round(p.m.client_cpu_pct, 1),
                         "bench_stable": p.m.stable, "pa_stable": r.stable, "pa_stability_pct": r.stability_pct,
                         "verdict": verdict, **breakdown_cells(p, r)})
        console.print(t)
        console.print(breakdown_comparison_table(s, results))
    path = out / f"{name}_vs_perf_analyzer.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["series"])
        w.writeheader()
        w.writerows(rows)
    verdicts = [r["verdict"] for r in rows]
    note = ""
    if any(v.endswith("unstable") for v in verdicts):
        note = "; levels marked unstable did not settle (a busy machine): rerun them, or raise --window"
    console.print(f"wrote {path}" + note + ("" if code == 0 else
                  f"; tritonctl bench and perf_analyzer differ by more than {tolerance_pct:g}% where the client "
                  "is not the bottleneck"))
    return code


_PARTS_SHOWN = (("queue", "queue_ms"), ("in", "compute_input_ms"), ("infer", "compute_infer_ms"),
                ("out", "compute_output_ms"), ("overhead", "overhead_ms"), ("server", "request_ms"))


def breakdown_cells(p, r) -> dict:
    """CSV columns: each tool's server-side parts (ms per request) and achieved batch size at one level."""
    cells = {}
    for tool, b in (("bench", p.server), ("pa", r.server)):
        for _, attr in _PARTS_SHOWN:
            cells[f"{tool}_server_{attr}"] = "" if b is None else round(getattr(b, attr), 4)
        cells[f"{tool}_server_batch_size"] = "" if b is None or not b.executions else round(b.batch_size, 3)
    return cells


def breakdown_comparison_table(s, results):
    """Triton's own split of the same levels as each tool measured it: cells "bench | perf_analyzer" (ms)."""
    from rich.table import Table

    t = Table(title=f"{s.label}: server-side breakdown, ms per request (tritonctl bench | perf_analyzer)",
              title_justify="left")
    for col in ("conc.", "client avg") + tuple(c for c, _ in _PARTS_SHOWN) + ("batch",):
        t.add_column(col, justify="right")

    def pair(a, b, fmt="{:.3f}"):
        return " | ".join("-" if v is None or v != v else fmt.format(v) for v in (a, b))

    for p, r in zip(s.points, results):
        ours, theirs = p.server, r.server
        cells = [pair(getattr(ours, attr, None), getattr(theirs, attr, None)) for _, attr in _PARTS_SHOWN]
        batch = pair(ours.batch_size if ours and ours.executions else None,
                     theirs.batch_size if theirs and theirs.executions else None, "{:.2f}")
        t.add_row(str(p.concurrency), pair(p.m.avg_ms, r.avg_ms), *cells, batch)
    return t
