"""tritonctl serve: the real Triton (from the nvidia-pytriton wheel) serving a repository on CPU."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from tritonctl.endpoints import DEFAULT_ADDRESS, DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT, DEFAULT_METRICS_PORT
from tritonctl.statedir import DEFAULT_STATE_DIR

HELP = "serve a model repository with a real local Triton (CPU backends), over HTTP, gRPC and metrics"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "repository", nargs="?", default="model_repository",
        help="model repository: a directory, or s3://[HOST:PORT/]BUCKET/PATH, gs://BUCKET/PATH, as://ACCOUNT/CONTAINER/PATH "
        "(as `tritonctl push` prints it; credentials from the environment) (default: model_repository)",
    )
    p.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT, help="HTTP/REST port (default %(default)s)")
    p.add_argument("--grpc-port", type=int, default=DEFAULT_GRPC_PORT, help="gRPC port (default %(default)s)")
    p.add_argument("--metrics-port", type=int, default=DEFAULT_METRICS_PORT, help="Prometheus metrics port (default %(default)s)")
    p.add_argument(
        "--address", default=DEFAULT_ADDRESS,
        help="address the three endpoints (and, in explicit mode, the model-control API) listen on "
        "(default %(default)s: this machine only; 0.0.0.0 listens on every interface, for other machines and containers)",
    )
    p.add_argument(
        "--model-control-mode",
        choices=["none", "poll", "explicit"],
        default="none",
        help="none: load everything once; poll: pick up repository changes live; explicit: load/unload on request",
    )
    p.add_argument(
        "--model",
        dest="models",
        action="append",
        default=[],
        metavar="NAME",
        help="with --model-control-mode explicit: load this model at start (repeat; '*' for all)",
    )
    p.add_argument("--poll-secs", type=int, default=2, help="repository poll interval in poll mode (default 2)")
    p.add_argument("--log-verbose", type=int, default=0, metavar="N", help="Triton's --log-verbose level (default 0)")
    p.add_argument("--detach", action="store_true", help="start in the background, write a pid file, return once ready")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="backend directory, pid file and log (default %(default)s/)")
    p.add_argument("--log-file", default=None, help="server log (default <state-dir>/server.log)")
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for readiness (default 300)")
    p.add_argument(
        "--exit-timeout",
        type=int,
        default=30,
        help="on stop, seconds Triton waits for in-flight requests and open connections (default 30)",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="keep serving the other models when a model fails to load (default: report and exit non-zero)",
    )


def format_progress(p) -> str:
    """One line while models load (a LoadProgress): what loaded, what is loading, what failed."""
    total = len(p.loading | p.loaded | p.failed)
    line = f"loading models: {len(p.loaded)} of {total} loaded"
    if p.loading:
        line += f", loading {', '.join(sorted(p.loading))}"
    if p.failed:
        line += f", failed {', '.join(sorted(p.failed))}"
    return line


def print_progress(p) -> None:
    # Triton loads every model before it answers (up to --timeout, 300 s by default): say how far it got
    if p.loading:
        print(format_progress(p), flush=True)


def run(args) -> int:
    from tritonctl.errors import ServeError
    from tritonctl.server.health import failed_models
    from tritonctl.server.launcher import LocalServer, ServerOptions, format_summary
    from tritonctl.server.stubs import StubWatch
    from tritonctl.server.stubs import describe as describe_dead_stubs

    opts = ServerOptions(
        repository=args.repository,  # a directory, or s3:// gs:// as:// (Triton reads it; credentials from the environment)
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        metrics_port=args.metrics_port,
        address=args.address,
        model_control_mode=args.model_control_mode,
        load_models=args.models,
        poll_secs=args.poll_secs,
        log_verbose=args.log_verbose,
        exit_timeout_secs=args.exit_timeout,
        state_dir=Path(args.state_dir),
        log_file=Path(args.log_file) if args.log_file else None,
    )
    server = LocalServer(opts)

    stop_requested: list[int] = []

    def on_signal(signum, _frame):
        stop_requested.append(signum)

    if not args.detach:
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)

    server.start()
    try:
        index = server.wait_ready(args.timeout, cancelled=lambda: bool(stop_requested), progress=print_progress)
    except BaseException:
        server.stop(timeout=15)
        raise
    if index is None:  # interrupted while starting
        server.stop()
        print("stopped before the server was ready", file=sys.stderr)
        return 130

    failed = failed_models(index)
    print(format_summary(opts, index, server.pid), flush=True)
    if failed and not args.keep_going:
        for m in failed:
            print(f"model '{m.name}' version {m.version} failed to load: {m.short_reason}", file=sys.stderr)
        server.stop(timeout=15)
        names = ", ".join(sorted({m.name for m in failed}))
        raise ServeError(
            f"{len(failed)} model version(s) failed to load ({names}); fix them (reasons above) or pass "
            "--keep-going to serve the others"
        )

    if args.detach:
        print(f"running in the background; stop it with `tritonctl stop --state-dir {opts.state_dir}`", flush=True)
        return 0

    print("serving; press Ctrl-C to stop", flush=True)
    # supervision: tritonserver exiting, or one of its backend stubs dying (Triton 2.51 neither
    # restarts nor reports a dead stub, and keeps answering live/ready): report, stop, exit 1
    stubs = StubWatch(server.pid, opts.http_url)
    while not stop_requested:
        if server.proc.poll() is not None:
            code = server.proc.returncode
            server.stop(timeout=5)
            raise ServeError(f"tritonserver exited with status {code}; its log ends with:\n{server.log_tail()}")
        dead = stubs.poll()
        if dead:
            # said before stopping: the stop can take --exit-timeout while clients hang up
            print(f"tritonctl serve: error: {describe_dead_stubs(dead)}", file=sys.stderr, flush=True)
            server.stop()
            return 1
        time.sleep(0.5)
    name = signal.Signals(stop_requested[0]).name
    print(f"{name}: stopping (in-flight requests finish, up to {opts.exit_timeout_secs}s)...", flush=True)
    code = server.stop()
    print(f"stopped (tritonserver exit status {code})", flush=True)
    return 0
