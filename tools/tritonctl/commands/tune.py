"""tritonctl tune: pick a model's serving configuration from served measurements."""

from __future__ import annotations

HELP = ("search max_batch_size, preferred batch sizes, queue delay, instances, threads and format on a running "
        "Triton; keep the best under a p99 budget")


def add_arguments(p):
    p.add_argument("model", help="model name in models.yaml (its published formats are the format axis)")
    p.add_argument("--p99-budget", type=float, default=100.0, metavar="MS", help="p99 latency budget in ms (default %(default)s)")
    p.add_argument("--url", help="Triton HTTP host:port (default: the local `tritonctl serve`, else localhost:8000)")
    p.add_argument("--grpc-url", help="Triton gRPC host:port (default: the local server's, else localhost:8001)")
    p.add_argument("--protocol", choices=["grpc", "http"], default="grpc", help="protocol of the load (default %(default)s)")
    p.add_argument("--state-dir", default=".tritonctl", help="where `tritonctl serve` keeps its pid file (default %(default)s)")
    p.add_argument("--spec", default="models.yaml", help="models.yaml (default %(default)s)")
    p.add_argument("-r", "--repository", help="model repository (default: `repository:` in the spec)")
    p.add_argument("--formats", help="comma list of formats to try (default: the model's published formats)")
    p.add_argument("--max-batch-sizes", help="comma list (default: half, equal and double the spec's)")
    p.add_argument("--preferred", help="preferred batch size sets, ';'-separated, '-' for none, e.g. '4,8;8;-' "
                   "(default: half and full max batch)")
    p.add_argument("--queue-delays", default="0,500,2000", help="max_queue_delay_microseconds values (default %(default)s)")
    p.add_argument("--instances", default="1,2", help="CPU instance counts (default %(default)s)")
    p.add_argument("--threads", help="intra-op threads per instance to try, e.g. 1,2 (default: as each config says; "
                   "a small model often serves faster on 1, see benchmarks/NOTES.md)")
    p.add_argument("--max-candidates", type=int, help="stop the grid after N candidates")
    p.add_argument("--concurrency", default="1,4,16", help="closed-loop concurrencies per candidate (default %(default)s)")
    p.add_argument("--duration", type=float, default=5.0, help="measured seconds per concurrency (default %(default)s)")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each window (default %(default)s)")
    p.add_argument("--write", action="store_true", help="apply the winner to models.yaml and the repository's config.pbtxt "
                   "(default: print the patch)")
    p.add_argument("--plot", help="PNG of throughput against p99 per candidate (default reports/tune-MODEL.png)")
    p.add_argument("--json", dest="json_out", help="write every measurement as JSON here")


def _names(args, spec):
    from tritonctl.tune.candidates import TuneError

    if spec is None:
        return {"onnx": args.model, "torchscript": f"{args.model}_torchscript"}, None
    try:
        m = spec.model(args.model)
    except Exception:
        raise TuneError(f"{args.spec}: no model named '{args.model}'; known: {[m.name for m in spec.models]}") from None
    if m.kind != "pytorch" or not m.batching:
        raise TuneError(f"model '{args.model}' is a {m.kind} model with max_batch_size {m.max_batch_size}; "
                        "tune searches batching settings of exported (pytorch) models")
    return {f: m.served_name(f) for f in m.formats if f in ("onnx", "torchscript")}, m


def _urls(args):
    from tritonctl.server.launcher import read_pidfile

    rec = read_pidfile(args.state_dir) if not args.url else None
    http = args.url or (rec or {}).get("http_url") or "localhost:8000"
    grpc = args.grpc_url or (rec or {}).get("grpc_url") or "localhost:8001"
    strip = lambda u: u.split("://", 1)[-1].rstrip("/")
    return strip(http), strip(grpc)


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
    from pathlib import Path

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


def run(args) -> int:
    import json
    import signal
    import sys
    from pathlib import Path

    from rich.console import Console

    from tritonctl import spec as spec_mod
    from tritonctl.tune import writeback
    from tritonctl.tune.candidates import SearchSpace, TuneError, parse_int_list, parse_preferred
    from tritonctl.tune.objective import closest_miss, pick_winner
    from tritonctl.tune.runner import Tuner, run_sweep

    spec_path = Path(args.spec)
    spec = spec_mod.load(spec_path) if spec_path.exists() else None
    if args.write and spec is None:
        raise TuneError(f"--write needs models.yaml; {spec_path} does not exist (pass --spec)")
    names, mspec = _names(args, spec)
    if args.p99_budget <= 0:
        raise TuneError(f"--p99-budget must be positive, got {args.p99_budget}")
    formats = [f.strip() for f in args.formats.split(",")] if args.formats else list(names)
    missing = [f for f in formats if f not in names]
    if missing:
        raise TuneError(f"--formats {missing}: model '{args.model}' publishes only {sorted(names)}")
    names = {f: names[f] for f in formats}
    base_mbs = mspec.max_batch_size if mspec else 8
    mbs = parse_int_list(args.max_batch_sizes, "--max-batch-sizes") if args.max_batch_sizes else \
        sorted({max(1, base_mbs // 2), base_mbs, min(2 * base_mbs, 64)})
    space = SearchSpace(
        formats=formats,
        max_batch_sizes=mbs,
        queue_delays_us=parse_int_list(args.queue_delays, "--queue-delays"),
        instance_counts=parse_int_list(args.instances, "--instances"),
        thread_counts=parse_int_list(args.threads, "--threads") if args.threads else None,
        preferred=parse_preferred(args.preferred) if args.preferred else None,
        limit=args.max_candidates,
    )
    candidates = space.candidates()
    concurrencies = parse_int_list(args.concurrency, "--concurrency")
    http_url, grpc_url = _urls(args)
    repo = Path(args.repository) if args.repository else (spec.resolve(spec.repository) if spec else None)
    out = Console(width=None if sys.stdout.isatty() else 160)
    err = Console(stderr=True, quiet=args.quiet)
    err.print(f"tune {args.model}: {len(candidates)} candidates x concurrencies {concurrencies}, "
              f"{args.duration:g}s windows, against {http_url} ({args.protocol} load)")

    tuner = Tuner(http_url=http_url, names=names, concurrencies=concurrencies, duration=args.duration,
                  warmup=args.warmup, protocol=args.protocol, grpc_url=grpc_url)
    state: dict = {"winner": None, "patch": None}

    def on_result(r):
        best = r.score(args.p99_budget) if r.ok else None
        err.print(f"  {r.candidate.label}: " + (r.error if not r.ok else
                  " ".join(f"c{w.concurrency}={w.throughput:.0f}/s p99={w.p99_ms:.1f}ms" for w in r.windows)
                  + ("" if best is not None else "  (over budget)")))

    def after(results):
        winner = pick_winner(results, args.p99_budget)
        state["winner"] = winner
        if winner is None or spec is None:
            return []
        old, new, patched = writeback.plan_models_yaml(spec_path, args.model, winner.candidate)
        state["patch"] = writeback.unified_diff(old, new, str(spec_path))
        if not args.write:
            return []
        serve_changed = patched.model(args.model).serve != mspec.serve
        writeback.write_text_atomic(spec_path, new)
        state["written"] = [str(spec_path)]
        if serve_changed:
            state["rebuild"] = True
            return []
        written = writeback.write_repository(repo, writeback.repository_configs(patched, args.model))
        state["written"] += [str(p) for p in written]
        winner_name = names[winner.candidate.format]
        return [winner_name] + [n for n, s in tuner.original.items() if s.loaded and n != winner_name]

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        results = run_sweep(tuner, candidates, on_result=on_result, after=after)
    finally:
        signal.signal(signal.SIGTERM, previous)

    winner = state["winner"]
    out.print(render_table(results, args.p99_budget, winner, concurrencies))
    plot = Path(args.plot or f"reports/tune-{args.model}.png")
    save_plot(results, args.p99_budget, winner, plot, f"tritonctl tune {args.model} (p99 budget {args.p99_budget:g} ms)")
    err.print(f"plot: {plot}")
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps([
            {"candidate": r.candidate.__dict__, "error": r.error, "windows": [w.as_dict() for w in r.windows],
             "score": r.score(args.p99_budget) if r.ok else None, "winner": r is winner}
            for r in results], indent=2, default=list))
    if winner is None:
        near = closest_miss(results)
        hint = f"; the lowest p99 seen was {min(w.p99_ms for w in near.windows if w.requests):.1f} ms ({near.candidate.label})" if near else ""
        err.print(f"[red]no candidate served within a p99 of {args.p99_budget:g} ms without errors{hint}; "
                  "raise --p99-budget or lower --concurrency[/red]")
        return 3
    w = winner.best_window(args.p99_budget)
    out.print(f"winner: {winner.candidate.label}: {w.throughput:.1f} samples/s at concurrency {w.concurrency}, "
              f"p99 {w.p99_ms:.1f} ms (budget {args.p99_budget:g} ms)")
    if state.get("written"):
        out.print("written: " + ", ".join(state["written"]))
        if state.get("rebuild"):
            out.print(f"the winning format changes `serve:`; run `tritonctl build {spec_path}` to republish the repository")
    elif state["patch"]:
        out.print(f"patch for {spec_path} (apply with --write, which also rewrites config.pbtxt):")
        out.print(state["patch"], markup=False, highlight=False)
    elif spec is not None:
        out.print(f"{spec_path} already has the winning settings")
    return 0
