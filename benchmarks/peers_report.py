"""benchmarks/peers.py, the report: the best of each system, the targets, the console tables,
the plot and the Markdown of benchmarks/RESULTS.md, from the rows of results.json (``--report-only``
re-renders them without measuring)."""

from __future__ import annotations

import os
import platform
import statistics
from collections import defaultdict
from pathlib import Path

from peers_measure import SYSTEMS
from peers_servers import CORES


def best(rows, model, system):
    rs = [r for r in rows if r["model"] == model and r["system"] == system and r["requests"] and not r["errors"]]
    return max(rs, key=lambda r: r["throughput"]) if rs else None


def summary(rows, models) -> list[dict]:
    out = []
    for model in models:
        systems = [s for s in SYSTEMS if any(r["model"] == model and r["system"] == s for r in rows)]
        ours = [b for b in (best(rows, model, s) for s in systems if s.startswith("triton-")) if b]
        our = max(ours, key=lambda r: r["throughput"]) if ours else None
        for s in systems:
            b = best(rows, model, s)
            if b is None:
                continue
            out.append({"model": model, "system": s, "best": b["throughput"], "at": b["concurrency"], "p99": b["p99_ms"],
                        "ratio_to_ours": (b["throughput"] / our["throughput"]) if our else float("nan"),
                        "ours": our["system"] if our else ""})
    return out


def targets(rows, models) -> list[tuple[str, str, bool]]:
    """The issue's targets, each (what, figures, met)."""
    res = []
    for model in models:
        s = {x["system"]: x for x in summary(rows, model and [model])}
        ours = max((v for k, v in s.items() if k.startswith("triton-")), key=lambda v: v["best"], default=None)
        if ours is None:
            continue
        if "torchserve" in s:
            ts = s["torchserve"]
            ok = ours["best"] >= 2 * ts["best"] and ours["p99"] < ts["p99"]
            res.append((f"{model}: Triton >= 2x TorchServe, lower p99",
                        f"{ours['best']:.0f} vs {ts['best']:.0f}/s = {ours['best'] / ts['best']:.2f}x; p99 {ours['p99']:.1f} vs {ts['p99']:.1f} ms", ok))
        if "flask" in s:
            fl = s["flask"]
            res.append((f"{model}: Triton >= 3x Flask", f"{ours['best']:.0f} vs {fl['best']:.0f}/s = {ours['best'] / fl['best']:.2f}x",
                        ours["best"] >= 3 * fl["best"]))
        lim = [v for k, v in s.items() if k.startswith("inproc-")]
        if lim:
            top = max(lim, key=lambda v: v["best"])
            need = 0.85 if model == "resnet18" else 0.4
            res.append((f"{model}: Triton >= {need}x in-process limit",
                        f"{ours['best']:.0f} vs {top['best']:.0f}/s ({top['system']} batch {top['at']}) = {ours['best'] / top['best']:.2f}x",
                        ours["best"] >= need * top["best"]))
    return res


#: the goals against the peers: the overhead-bound model against the best peer, the compute-bound one against the limit
PEER_GOALS = {"digits": "overhead", "resnet18": "compute"}


def is_peer(system: str) -> bool:
    return not system.startswith(("triton-", "inproc-"))


def leaders(rows, model) -> tuple[dict, dict | None, dict | None]:
    """One model's summary rows by system, our best Triton row and the best peer's (None when absent)."""
    s = {x["system"]: x for x in summary(rows, [model])}
    ours = max((v for k, v in s.items() if k.startswith("triton-")), key=lambda v: v["best"], default=None)
    top = max((v for k, v in s.items() if is_peer(k)), key=lambda v: v["best"], default=None)
    return s, ours, top


def peer_goals(rows, models) -> list[tuple[str, str, bool]]:
    """Issue 16's goals, each (what, figures, met): overhead-bound models >= 2x the best peer with a
    lower p99; compute-bound ones >= 0.9x the in-process limit and ahead of every peer."""
    res = []
    for model in models:
        s, ours, top = leaders(rows, model)
        kind = PEER_GOALS.get(model)
        if ours is None or kind is None:
            continue
        if kind == "overhead" and top:
            res.append((f"{model}: ours >= 2x the best peer ({top['system']}), lower p99",
                        f"{ours['system']} {ours['best']:.0f} vs {top['best']:.0f}/s = {ours['best'] / top['best']:.2f}x; "
                        f"p99 {ours['p99']:.1f} vs {top['p99']:.1f} ms",
                        ours["best"] >= 2 * top["best"] and ours["p99"] < top["p99"]))
        if kind == "compute":
            lim = [v for k, v in s.items() if k.startswith("inproc-")]
            if lim:
                best_lim = max(lim, key=lambda v: v["best"])
                res.append((f"{model}: ours >= 0.9x the in-process limit",
                            f"{ours['best']:.1f} vs {best_lim['best']:.1f}/s ({best_lim['system']} batch {best_lim['at']}) = "
                            f"{ours['best'] / best_lim['best']:.2f}x", ours["best"] >= 0.9 * best_lim["best"]))
            if top:
                res.append((f"{model}: ours ahead of every peer (best: {top['system']})",
                            f"{ours['best']:.1f} vs {top['best']:.1f}/s = {ours['best'] / top['best']:.2f}x",
                            ours["best"] > top["best"]))
    return res


def round_noise(rows, all_rounds, models) -> list[str]:
    """How far a point's rounds lay apart: (best - worst) / best over the points measured in every
    round, per model, and the rounds of the points the goals compare."""
    by_point = defaultdict(list)
    for r in all_rounds:
        by_point[(r["model"], r["system"], r["concurrency"])].append(r["throughput"])
    lines = []
    for model in models:
        spreads = sorted((max(v) - min(v)) / max(v) for (m, _, _), v in by_point.items() if m == model and len(v) > 1 and max(v) > 0)
        if not spreads:
            continue
        lines.append(f"- {model}: rounds of one point differ by {100 * statistics.median(spreads):.0f} % (median over "
                     f"{len(spreads)} points), {100 * spreads[int(0.9 * (len(spreads) - 1))]:.0f} % at the 90th percentile, "
                     f"{100 * spreads[-1]:.0f} % at most")
        # the rounds behind each model's best Triton row and best peer row (the goals' figures)
        _, ours, top = leaders(rows, model)
        for x in (x for x in (ours, top) if x):
            rounds = by_point[(model, x["system"], x["at"])]
            lines.append(f"  - {x['system']} at concurrency {x['at']}: " + ", ".join(f"{t:.1f}" for t in rounds) + " samples/s")
    return lines


def markdown(rows, models, meta, all_rounds=()) -> str:
    lines = [f"# Side-by-side serving benchmark", "",
             f"Generated by `make bench-peers` (benchmarks/peers.py) on {meta['date']}.", "",
             f"- machine: {meta['machine']}",
             f"- conditions: {meta['conditions']}" + (f"; {meta['load']}" if meta.get("load") else ""),
             f"- load: closed loop, concurrencies {meta['concurrency']}, {meta['duration']} s measured after {meta['warmup']} s warm-up per point; "
             f"all servers up at once (idle LitServe and BentoML servers held with SIGSTOP: their idle processes poll), systems measured in turn at each point, {meta['rounds']} rounds in rotated "
             "order, each point reports its best round (background load only slows a window down); "
             f"Triton client: {meta['triton_client']}; "
             "one float32 sample per request (in-process rows: concurrency = batch size); "
             f"generator: {meta['generator']}",
             f"- in-process: {meta['inproc']}",
             f"- ours: {meta['triton']}",
             f"- peers: {meta['peers']}", ""]
    lines += ["## Best throughput per system (best over concurrency)", "",
              "| model | system | best samples/s | at concurrency | p99 there (ms) | ratio to ours |",
              "| --- | --- | ---: | ---: | ---: | ---: |"]
    for s in summary(rows, models):
        lines.append(f"| {s['model']} | {s['system']} | {s['best']:.1f} | {s['at']} | {s['p99']:.1f} | {s['ratio_to_ours']:.2f} |")
    lines += ["", "Ours = the best Triton row of each model.", "", "## Targets", "",
              "| target | figures | met |", "| --- | --- | --- |"]
    for what, fig, ok in targets(rows, models):
        lines.append(f"| {what} | {fig} | {'yes' if ok else 'NO'} |")
    lines += ["", "## Goals against today's peers", "", "| goal | figures | met |", "| --- | --- | --- |"]
    for what, fig, ok in peer_goals(rows, models):
        lines.append(f"| {what} | {fig} | {'yes' if ok else 'NO'} |")
    noise = round_noise(rows, all_rounds, models)
    if noise:
        lines += ["", "## How noisy the rounds were", ""] + noise
    lines += ["", "## Every point", "", "| model | system | concurrency | samples/s | p50 (ms) | p99 (ms) | errors |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['system']} | {r['concurrency']} | {r['throughput']:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |")
    lines += ["", "![throughput against p99](peers.png)", ""]
    return "\n".join(lines)


def print_table(rows, models) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=160)
    t = Table(title="every point", title_justify="left")
    for c in ("model", "system", "conc", "samples/s", "p50 ms", "p99 ms", "errors"):
        t.add_column(c, justify="left" if c in ("model", "system") else "right")
    for r in rows:
        t.add_row(r["model"], r["system"], str(r["concurrency"]), f"{r['throughput']:.1f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", str(r["errors"]))
    con.print(t)
    t = Table(title="best throughput per system, as a ratio to ours (best Triton row)", title_justify="left")
    for c in ("model", "system", "best samples/s", "at conc", "p99 ms", "ratio to ours"):
        t.add_column(c, justify="left" if c in ("model", "system") else "right")
    for s in summary(rows, models):
        t.add_row(s["model"], s["system"], f"{s['best']:.1f}", str(s["at"]), f"{s['p99']:.1f}", f"{s['ratio_to_ours']:.2f}")
    con.print(t)
    for what, fig, ok in targets(rows, models) + peer_goals(rows, models):
        con.print(f"{'MET ' if ok else 'MISS'}  {what}: {fig}", markup=False)


def plot(rows, models, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(models), figsize=(7 * len(models), 5.5), squeeze=False)
    for ax, model in zip(axes[0], models):
        for i, s in enumerate(SYSTEMS):
            pts = [(r["p99_ms"], r["throughput"], r["concurrency"]) for r in rows
                   if r["model"] == model and r["system"] == s and r["requests"]]
            if not pts:
                continue
            xs, ys, cs = zip(*pts)
            ls = ":" if s.startswith("inproc") else ("-" if s.startswith("triton") else ("-." if s.endswith("-onnx") else "--"))
            ax.plot(xs, ys, marker="o", ls=ls, label=s, color=plt.cm.tab20(i % 20))  # one colour per system
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("p99 latency (ms, log)")
        ax.set_ylabel("throughput (samples/s, log)")
        conc = sorted({r["concurrency"] for r in rows if r["model"] == model})
        ax.set_title(f"{model}: throughput vs p99, concurrency {conc[0]}..{conc[-1]}" if conc else model)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine() -> str:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{CORES} cores ({cpu or platform.processor()}), {mem:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


