"""What a tune session found, for people and files: the candidate table, the throughput/p99 plot,
the JSON of every measurement, a line per measured candidate, and the closing lines (the winner,
what was written, the patch or why nothing won)."""

from __future__ import annotations

import json
from pathlib import Path

from tritonctl.tune.objective import Result, closest_miss
from tritonctl.tune.session import TuneOutcome


def progress_line(r: Result, budget: float) -> str:
    """One line as each candidate finishes."""
    if not r.ok:
        return f"  {r.candidate.label}: {r.error}"
    windows = " ".join(f"c{w.concurrency}={w.throughput:.0f}/s p99={w.p99_ms:.1f}ms" for w in r.windows)
    return f"  {r.candidate.label}: {windows}" + ("" if r.score(budget) is not None else "  (over budget)")


def render_table(results, budget, winner, concurrencies):
    from rich.table import Table

    t = Table(title=f"tune candidates (p99 budget {budget:g} ms; cells: samples/s @ p99 ms)", title_justify="left")
    with_threads = any(r.candidate.threads is not None for r in results)
    for col in ("#", "format", "max batch", "preferred", "delay us", "inst") + (("threads",) if with_threads else ()):
        t.add_column(col, justify="right" if col not in ("format", "preferred") else "left")
    for c in concurrencies:
        t.add_column(f"c={c}", justify="right")
    t.add_column("best in budget", justify="right")
    t.add_column("status")
    for i, r in enumerate(results, 1):
        c = r.candidate
        cells = []
        by_c = {w.concurrency: w for w in r.windows}
        for conc in concurrencies:
            w = by_c.get(conc)
            cells.append("" if w is None else (f"{w.throughput:.0f} @ {w.p99_ms:.1f}" if w.requests else f"errors {w.errors}"))
        score = r.score(budget) if r.ok else None
        status = r.error if not r.ok else ("WINNER" if r is winner else ("over budget" if score is None else ""))
        t.add_row(str(i), c.format, str(c.max_batch_size), ",".join(map(str, c.preferred_batch_size)) or "-",
                  str(c.max_queue_delay_microseconds), str(c.instance_count),
                  *([str(c.threads or "")] if with_threads else []), *cells,
                  "" if score is None else f"{score:.1f}", status)
    return t


def save_plot(results, budget, winner, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5.5))
    for r in results:
        pts = [(w.p99_ms, w.throughput) for w in r.windows if w.requests]
        if not pts:
            continue
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o", lw=2.5 if r is winner else 1, alpha=1 if r is winner else 0.6,
                label=("* " if r is winner else "") + r.candidate.label)
    ax.axvline(budget, color="red", ls="--", lw=1, label=f"p99 budget {budget:g} ms")
    ax.set_xlabel("p99 latency (ms)")
    ax.set_ylabel("throughput (samples/s)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="best")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _server(w) -> dict | None:
    return (w.extra or {}).get("server") if w is not None else None


def explain_winner(results: list[Result], winner: Result, budget: float) -> list[str]:
    """Why the winner won, in Triton's own numbers (``tritonctl.stats``, read around every window).

    First the winner's request at its best level (queue, compute, overhead, batch, time outside the
    server), then what changed against the best other candidate at the same concurrency: the parts
    that moved most, e.g. ``queue 0.31 -> 0.02 ms``. Empty when the statistics were not read.
    """
    w = winner.best_window(budget)
    s = _server(w)
    if s is None:
        return []
    compute = s["compute_input_ms"] + s["compute_infer_ms"] + s["compute_output_ms"]
    batch = f"{s['batch_size']:.1f}" if s["executions"] else "-"
    lines = [f"why, in Triton's statistics at c={w.concurrency}: queue {s['queue_ms']:.2f} + compute {compute:.2f} "
             f"(infer {s['compute_infer_ms']:.2f}) + overhead {s['overhead_ms']:.2f} = {s['request_ms']:.2f} ms in the "
             f"server, {w.mean_ms - s['request_ms']:.2f} ms outside it; batch size {batch}"]
    rivals = [(rw, r) for r in results if r is not winner and r.ok for rw in r.windows
              if rw.concurrency == w.concurrency and rw.requests and _server(rw)]
    if not rivals:
        return lines
    rw, rival = max(rivals, key=lambda x: x[0].throughput)
    o = _server(rw)
    moves = [(abs(s[k] - o[k]) / max(s[k], o[k], 1e-9), f"{label} {o[k]:.2f} -> {s[k]:.2f} ms")
             for k, label in (("queue_ms", "queue"), ("compute_infer_ms", "compute infer"), ("overhead_ms", "overhead"),
                              ("compute_input_ms", "compute input"), ("compute_output_ms", "compute output"))]
    moves = [m for share, m in sorted(moves, reverse=True) if share >= 0.1][:3]
    if o["executions"] and s["executions"]:
        moves.append(f"batch {o['batch_size']:.1f} -> {s['batch_size']:.1f}")
    lines.append(f"against the next best at c={w.concurrency} ({rival.candidate.label}, {rw.throughput:.0f} -> "
                 f"{w.throughput:.0f} samples/s): " + (", ".join(moves) or "the same split"))
    return lines


def write_json(outcome: TuneOutcome, path: Path) -> None:
    budget = outcome.request.p99_budget_ms
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([
        {"candidate": r.candidate.__dict__, "error": r.error, "windows": [w.as_dict() for w in r.windows],
         "score": r.score(budget) if r.ok else None, "winner": r is outcome.winner}
        for r in outcome.results], indent=2, default=list))


def show_measurements(outcome: TuneOutcome, out, err, plot: Path, json_path: Path | None = None) -> None:
    """The table, the plot and the JSON: what the sweep measured (saved before any write-back)."""
    r = outcome.request
    out.print(render_table(outcome.results, r.p99_budget_ms, outcome.winner, r.concurrencies))
    save_plot(outcome.results, r.p99_budget_ms, outcome.winner, plot,
              f"tritonctl tune {r.model} (p99 budget {r.p99_budget_ms:g} ms)")
    err.print(f"plot: {plot}")
    if json_path:
        write_json(outcome, json_path)
        err.print(f"measurements: {json_path}")


def show_verdict(outcome: TuneOutcome, out, err) -> None:
    """The closing lines: the winner and why, what was written (or the patch), or why nothing won."""
    r = outcome.request
    if outcome.winner is None:
        near = closest_miss(outcome.results)
        hint = (f"; the lowest p99 seen was {min(w.p99_ms for w in near.windows if w.requests):.1f} ms "
                f"({near.candidate.label})") if near else ""
        err.print(f"[red]no candidate served within a p99 of {r.p99_budget_ms:g} ms without errors{hint}; "
                  "raise --p99-budget or lower --concurrency[/red]")
        return
    w = outcome.winner.best_window(r.p99_budget_ms)
    out.print(f"winner: {outcome.winner.candidate.label}: {w.throughput:.1f} samples/s at concurrency {w.concurrency}, "
              f"p99 {w.p99_ms:.1f} ms (budget {r.p99_budget_ms:g} ms)")
    for line in explain_winner(outcome.results, outcome.winner, r.p99_budget_ms):
        out.print(line, markup=False, highlight=False)
    for note in outcome.notes:
        out.print(f"note: {note}", markup=False, highlight=False)
    if outcome.write_error:
        what = "could not write the winner back" if r.write else f"no patch for {r.spec_path}"
        err.print(f"{what}: {outcome.write_error}", style="red", markup=False, highlight=False)
        return
    if outcome.written:
        out.print("written: " + ", ".join(outcome.written))
        if outcome.rebuild_needed:
            out.print(f"the winning format changes `serve:`; run `tritonctl build {r.spec_path}` to republish the repository")
    elif outcome.patch:
        out.print(f"patch for {r.spec_path} (apply with --write, which also rewrites config.pbtxt):")
        out.print(outcome.patch, markup=False, highlight=False)
    elif outcome.has_spec:
        out.print(f"{r.spec_path} already has the winning settings")
