"""tritonctl bench: closed-loop concurrency sweep against any Triton, CSV + plot, perf_analyzer cross-check."""

from tritonctl.statedir import DEFAULT_STATE_DIR
from tritonctl.wire.shapes import DYNAMIC_DIM

HELP = ("concurrency sweep (gRPC/HTTP, closed loop): throughput, p50/p95/p99 and Triton's queue/compute split "
        "per level, CSV and plot")


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
    p.add_argument("--dynamic-dim", type=int, default=DYNAMIC_DIM.opt, help="length of variable (-1) dimensions (default: %(default)s)")
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
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="tritonctl's state folder (default: %(default)s)")


def run(args) -> int:
    import logging
    import sys
    from contextlib import ExitStack
    from pathlib import Path

    from rich.console import Console

    from tritonctl.bench import crosscheck, report
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
                ours, theirs, results = crosscheck.interleaved(cfg, console, args.state_dir, args.repeat)
                series += [ours, theirs]
                checks.append((ours, results))
            else:
                with console.status(f"{label}: warming up") as status:
                    series.append(sweep(cfg, progress=lambda msg: status.update(msg)))

        out = Path(args.output_dir)
        csv_path = report.write_csv(series, out / f"{args.name}.csv")
        png_path = report.plot(series + compare, out / f"{args.name}.png")
        console.print(report.table(series + compare))
        if any(pt.server is not None for x in series for pt in x.points):
            console.print(report.breakdown_table(series))
        console.print(f"wrote {csv_path} and {png_path}")
        code = crosscheck.report(checks, console, out, args.name, args.tolerance) if args.perf_analyzer else 0
    return code


def _local_server(repository, state_dir, log):
    from contextlib import contextmanager

    from tritonctl.endpoints import free_port
    from tritonctl.server.health import is_ready
    from tritonctl.server.launcher import LocalServer, ServerOptions

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
