"""tritonctl tune: pick a model's serving configuration from served measurements."""

from __future__ import annotations

from tritonctl.endpoints import DEFAULT_URLS
from tritonctl.statedir import DEFAULT_STATE_DIR

HELP = ("search max_batch_size, preferred batch sizes, queue delay, instances, threads and format on a running "
        "Triton; keep the best under a p99 budget")


def add_arguments(p):
    p.add_argument("model", help="model name in models.yaml (its published formats are the format axis)")
    p.add_argument("--p99-budget", type=float, default=100.0, metavar="MS", help="p99 latency budget in ms (default %(default)s)")
    p.add_argument("--url", help=f"Triton HTTP host:port (default: the local `tritonctl serve`, else {DEFAULT_URLS['http']})")
    p.add_argument("--grpc-url", help=f"Triton gRPC host:port (default: the local server's, else {DEFAULT_URLS['grpc']})")
    p.add_argument("--protocol", choices=["grpc", "http"], default="grpc", help="protocol of the load (default %(default)s)")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="where `tritonctl serve` keeps its pid file (default %(default)s)")
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
                   "(default: print the patch); exit 4 when that fails (the table, plot and JSON are kept)")
    p.add_argument("--plot", help="PNG of throughput against p99 per candidate (default reports/tune-MODEL.png)")
    p.add_argument("--json", dest="json_out", help="write every measurement as JSON here")


def _urls(args):
    from tritonctl.endpoints import strip_scheme
    from tritonctl.server.launcher import local_urls

    http, grpc = local_urls(args.state_dir) if not args.url else (args.url, DEFAULT_URLS["grpc"])
    return strip_scheme(http), strip_scheme(args.grpc_url or grpc)


def run(args) -> int:
    import signal
    import sys
    from pathlib import Path

    from rich.console import Console

    from tritonctl.tune import report
    from tritonctl.tune.candidates import parse_int_list, parse_preferred
    from tritonctl.tune.session import TuneRequest, TuneSession

    http_url, grpc_url = _urls(args)
    ints = lambda text, option: parse_int_list(text, option) if text else None  # noqa: E731
    session = TuneSession(TuneRequest(
        model=args.model, http_url=http_url, grpc_url=grpc_url, spec_path=Path(args.spec),
        repository=Path(args.repository) if args.repository else None, p99_budget_ms=args.p99_budget,
        protocol=args.protocol, formats=[f.strip() for f in args.formats.split(",")] if args.formats else None,
        max_batch_sizes=ints(args.max_batch_sizes, "--max-batch-sizes"),
        preferred=parse_preferred(args.preferred) if args.preferred else None,
        queue_delays_us=parse_int_list(args.queue_delays, "--queue-delays"),
        instance_counts=parse_int_list(args.instances, "--instances"), thread_counts=ints(args.threads, "--threads"),
        max_candidates=args.max_candidates, concurrencies=parse_int_list(args.concurrency, "--concurrency"),
        duration_s=args.duration, warmup_s=args.warmup,
        write=args.write,
    ))
    out = Console(width=None if sys.stdout.isatty() else 160)
    err = Console(stderr=True, quiet=args.quiet)
    err.print(f"tune {args.model}: {len(session.candidates)} candidates x concurrencies {session.request.concurrencies}, "
              f"{args.duration:g}s windows, against {http_url} ({args.protocol} load)")

    def on_term(signum, frame):
        raise KeyboardInterrupt  # the session restores the served models on the way out, as on Ctrl-C

    plot, json_path = Path(args.plot or f"reports/tune-{args.model}.png"), Path(args.json_out) if args.json_out else None
    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        # the table, plot and JSON are saved before the winner is written back: a failed write loses nothing
        outcome = session.run(on_result=lambda r: err.print(report.progress_line(r, args.p99_budget)),
                              on_measured=lambda o: report.show_measurements(o, out, err, plot, json_path))
    finally:
        signal.signal(signal.SIGTERM, previous)
    report.show_verdict(outcome, out, err)
    return outcome.exit_code
