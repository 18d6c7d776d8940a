"""Run a command against a Triton that answers, starting a local one only when none does.

    python -m tritonctl.bench.with_server --http localhost:8000 --repository model_repository -- CMD ARGS...

If ``http://<http>/v2/health/ready`` answers 200, CMD runs against that server. Otherwise a local
Triton starts on the ports of ``--http``/``--grpc`` (``LocalServer``, what `tritonctl serve` runs,
with its pid file in ``--state-dir``), CMD runs, and the server stops again (also on Ctrl-C). The
exit status is CMD's. Used by
``make loadtest``, ``make loadtest-ui``, ``make bench`` and ``make bench-crosscheck`` so that each
works on a fresh machine and against a server that is already up.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit


def _host_port(target) -> tuple[str, str]:
    """A parsed ``Target`` -> (host, port), as ``urlsplit`` reads ``str(target)``."""
    u = urlsplit(str(target))
    return u.hostname, str(u.port)


def main(argv=None) -> int:
    from tritonctl.endpoints import DEFAULT_METRICS_PORT, DEFAULT_URLS, client_target
    from tritonctl.errors import TritonctlError
    from tritonctl.process import ManagedProcess
    from tritonctl.server.health import failed_models, is_ready
    from tritonctl.server.launcher import LocalServer, ServerOptions, format_summary
    from tritonctl.statedir import DEFAULT_STATE_DIR

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--http", default=DEFAULT_URLS["http"], help="host:port of Triton's HTTP endpoint")
    p.add_argument("--grpc", default=DEFAULT_URLS["grpc"], help="host:port of Triton's gRPC endpoint")
    p.add_argument("--metrics-port", type=int, default=DEFAULT_METRICS_PORT)
    p.add_argument("--repository", default="model_repository")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR)
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for a started server (default 300)")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        p.error("give the command to run after --")

    def _terminate(signum, _frame):
        raise SystemExit(128 + signum)

    server = None
    old_term = signal.signal(signal.SIGTERM, _terminate)  # `timeout`, CI cancel: also while Triton starts
    if is_ready(a.http):
        print(f"using the Triton already serving at {a.http}", file=sys.stderr)
    else:
        host, http_port = _host_port(client_target(a.http, "http"))
        if host not in ("localhost", "127.0.0.1", "0.0.0.0"):
            print(f"no Triton answers at {a.http}; start it there, or point the target at a local address", file=sys.stderr)
            signal.signal(signal.SIGTERM, old_term)
            return 2
        grpc_port = _host_port(client_target(a.grpc, "grpc"))[1]
        print(f"no Triton at {a.http}; starting one: serve {a.repository} --http-port {http_port} --grpc-port "
              f"{grpc_port} --metrics-port {a.metrics_port} --state-dir {a.state_dir}", file=sys.stderr)
        try:
            opts = ServerOptions(repository=a.repository, http_port=int(http_port), grpc_port=int(grpc_port),
                                 metrics_port=a.metrics_port, state_dir=Path(a.state_dir))
            server = LocalServer(opts)
            server.start()
            index = server.wait_ready(a.timeout)
            print(format_summary(opts, index, server.pid), file=sys.stderr, flush=True)
            failed = failed_models(index)
            if failed:  # what `tritonctl serve` refuses too: a run on a half-loaded repository
                for m in failed:
                    print(f"model '{m.name}' version {m.version} failed to load: {m.short_reason}", file=sys.stderr)
                names = ", ".join(sorted({m.name for m in failed}))
                raise TritonctlError(
                    f"{len(failed)} model version(s) failed to load ({names}); fix them (reasons above), or start "
                    f"`tritonctl serve {a.repository} --keep-going` yourself to run against the others"
                )
        except TritonctlError as exc:
            print(f"tritonctl serve: error: {exc}", file=sys.stderr)
            if server is not None:
                server.stop(timeout=15)
            signal.signal(signal.SIGTERM, old_term)
            return 2
        except BaseException:  # Ctrl-C, SIGTERM: Triton runs in its own process group, stop it here
            if server is not None:
                server.stop(timeout=15)
            signal.signal(signal.SIGTERM, old_term)
            raise
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches CMD (same group); we clean up after
    child = ManagedProcess(cmd, None, name=cmd[0], group=False, stop_timeout=15)
    try:
        child.start()
        signal.signal(signal.SIGINT, lambda *_: None)
        return child.proc.wait()
    finally:
        child.stop()
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        if server is not None:
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
