"""tritonctl bench: closed-loop concurrency sweep against any Triton, CSV + plot, perf_analyzer cross-check."""

HELP = "concurrency sweep (gRPC/HTTP, closed loop): throughput and p50/p95/p99 per level, CSV and plot"


def add_arguments(p):
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="model[:version] to measure; two or more are compared in one plot")
    p.add_argument("-u", "--url", action="append", default=[],
                   help="Triton endpoint: grpc://host:8001, http://host:8000, or host[:port] read with --protocol; "
                        "repeat to compare servers (default: localhost)")
    p.add_argument("-i", "--protocol", choices=["grpc", "http", "both"], default="grpc",
                   help="protocol for URLs without a scheme (default: %(default)s)")
    p.add_argument("-c", "--concurrency", default="1,2,4,8",
                   help="levels, a list 1,2,4,8 or a range start:end[:step] (default: %(default)s)")
    p.add_argument("-b", "--batch-size", type=int, default=1, help="batch size of each request (default: %(default)s)")
    p.add_argument("--dynamic-dim", type=int, default=16, help="length of variable (-1) dimensions (default: %(default)s)")
    p.add_argument("--samples", default=None, help="folder of PNG/JPEG files for models with BYTES inputs")
    p.add_argument("--window", type=float, default=2.0,
                   help="measurement window in seconds (perf_analyzer's --measurement-interval; default: %(default)s)")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds before the first window of each level")
    p.add_argument("--stability", type=float, default=10.0,
                   help="stable when the last windows agree within this %% in throughput and mean latency (default: 10)")
    p.add_argument("--stable-windows", type=int, default=3, help="windows that must agree (default: %(default)s)")
    p.add_argument("--max-windows", type=int, default=10, help="give up on stability after this many (default: %(default)s)")
    p.add_argument("-o", "--output-dir", default="reports/bench", help="where CSV and plot go (default: %(default)s)")
    p.add_argument("--name", default="bench", help="file name stem: NAME.csv, NAME.png (default: %(default)s)")
    p.add_argument("--label", action="append", default=[], help="legend label per series, in order (repeatable)")
    p.add_argument("--compare", action="append", default=[], metavar="CSV",
                   help="an earlier bench CSV to draw in the same plot (repeatable)")
    p.add_argument("--perf-analyzer", action="store_true",
                   help="also run Triton's perf_analyzer (installed into .tritonctl/perf_analyzer from the "
                        "tritonclient 2.41.0 wheel) on the same model and levels, and print both side by side")
    p.add_argument("--tolerance", type=float, default=15.0,
                   help="with --perf-analyzer: largest throughput difference in %% where the client is not the "
                        "bottleneck; exit 1 beyond it (default: %(default)s)")
    p.add_argument("--repeat", type=int, default=1,
                   help="with --perf-analyzer: rounds per level, alternating which tool goes first; each tool is "
                        "reported by its median round (default: %(default)s; 3 on a busy machine)")
    p.add_argument("--serve", nargs="?", const="model_repository", default=None, metavar="REPOSITORY",
                   help="start a local Triton from REPOSITORY (default model_repository) for this run, stop it after")
    p.add_argument("--state-dir", default=".tritonctl", help="tritonctl's state folder (default: %(default)s)")


def run(args) -> int:
    import logging
    import sys
    from contextlib import ExitStack
    from pathlib import Path

    from rich.console import Console

    from tritonctl.bench import report
    from tritonctl.bench.stability import StabilityRule
    from tritonctl.bench.sweep import SweepConfig, parse_concurrency, parse_target, sweep
    from tritonctl.errors import ClientError

    log = logging.getLogger("tritonctl.bench")
    console = Console(quiet=args.quiet, width=None if sys.stdout.isatty() else 150)
    try:
        rule = StabilityRule(args.stability, args.stable_windows, args.max_windows)
    except ValueError as exc:
        raise ClientError(f"bench: {exc}") from None
    levels = parse_concurrency(args.concurrency)
    compare = [s for path in args.compare for s in report.read_csv(Path(path), label_suffix=f" ({Path(path).stem})")]

    with ExitStack() as stack:
        urls = list(args.url)
        if args.serve:
            served = stack.enter_context(_local_server(Path(args.serve), Path(args.state_dir), log))
            if not urls:
                urls = [f"grpc://{served.grpc_url}", f"http://{served.http_url}"] if args.protocol == "both" else \
                    [f"{args.protocol}://{served.grpc_url if args.protocol == 'grpc' else served.http_url}"]
        targets = [t for u in (urls or ["localhost"]) for t in parse_target(u, args.protocol)]
        runs = [(m, t) for m in args.models for t in targets]
        if args.label and len(args.label) != len(runs):
            raise ClientError(f"--label given {len(args.label)} times for {len(runs)} series (models x URLs); give one per series")
        series, checks = [], []
        for n, (model, target) in enumerate(runs):
            name, _, version = model.partition(":")
            label = args.label[n] if args.label else (f"{name} {target}" if len(runs) > 1 else f"{name} {target.protocol}")
            cfg = SweepConfig(name, target, levels, version=version, batch_size=args.batch_size,
                              dynamic_dim=args.dynamic_dim, window_s=args.window, warmup_s=args.warmup, rule=rule,
                              samples=args.samples, label=label)
            if args.perf_analyzer:
                ours, theirs, results = _interleaved(args, cfg, console)
                series += [ours, theirs]
                checks.append((ours, results))
            else:
                with console.status(f"{label}: warming up") as status:
                    series.append(sweep(cfg, progress=lambda msg: status.update(msg)))

        out = Path(args.output_dir)
        csv_path = report.write_csv(series, out / f"{args.name}.csv")
        png_path = report.plot(series + compare, out / f"{args.name}.png")
        console.print(report.table(series + compare))
        console.print(f"wrote {csv_path} and {png_path}")
        code = _crosscheck_report(args, checks, console, out) if args.perf_analyzer else 0
    return code


def _local_server(repository, state_dir, log):
    from contextlib import contextmanager

    from tritonctl.server.launcher import LocalServer, ServerOptions, free_port, is_ready

    @contextmanager
    def cm():
        opts = ServerOptions(repository=repository, http_port=free_port(), grpc_port=free_port(),
                             metrics_port=free_port(), state_dir=state_dir / "bench-server")
        server = LocalServer(opts).start()
        try:
            server.wait_ready()
            if not is_ready(opts.http_url):
                log.warning("some models failed to load; see %s", opts.log_path)
            log.info("local Triton from %s: HTTP %s, gRPC %s", repository, opts.http_url, opts.grpc_url)
            yield opts
        finally:
            server.stop()

    return cm()


def _interleaved(args, cfg, console):
    """tritonctl bench and perf_analyzer level by level (``--repeat`` rounds), alternating which goes first.

    On a shared machine the load beside us drifts within minutes; measuring both tools at the
    same level back to back keeps them under the same conditions.
    """
    import dataclasses

    from tritonctl import client as tc
    from tritonctl.bench import perf_analyzer as pa
    from tritonctl.bench.stability import Measurement
    from tritonctl.bench.sweep import Point, Series, sweep

    tool = pa.ensure_installed(args.state_dir)
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
        for rep in range(max(1, args.repeat)):
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
            client_cpu_pct=float("nan")), bs))
    return ours, theirs, results


def _crosscheck_report(args, checks, console, out) -> int:
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
            elif abs(diff) <= args.tolerance:
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
                         "verdict": verdict})
        console.print(t)
    path = out / f"{args.name}_vs_perf_analyzer.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["series"])
        w.writeheader()
        w.writerows(rows)
    verdicts = [r["verdict"] for r in rows]
    note = ""
    if any(v.endswith("unstable") for v in verdicts):
        note = "; levels marked unstable did not settle (a busy machine): rerun them, or raise --window"
    console.print(f"wrote {path}" + note + ("" if code == 0 else
                  f"; tritonctl bench and perf_analyzer differ by more than {args.tolerance:g}% where the client "
                  "is not the bottleneck"))
    return code
