"""Run a command against a Triton that answers, starting a local one only when none does.

    python -m tritonctl.bench.with_server --http localhost:8000 --repository model_repository -- CMD ARGS...

If ``http://<http>/v2/health/ready`` answers 200, CMD runs against that server. Otherwise
``tritonctl serve REPOSITORY --detach`` starts one on the ports of ``--http``/``--grpc``, CMD runs,
and ``tritonctl stop`` ends the server again (also on Ctrl-C). The exit status is CMD's. Used by
``make loadtest``, ``make loadtest-ui``, ``make bench`` and ``make bench-crosscheck`` so that each
works on a fresh machine and against a server that is already up.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys


def _host_port(url: str) -> tuple[str, str]:
    """'h:p[/prefix]' (a parsed ``Target.url``) -> ('h', 'p')."""
    host, _, port = url.split("/", 1)[0].rpartition(":")
    return host, port


def main(argv=None) -> int:
    from tritonctl.endpoints import DEFAULT_METRICS_PORT, DEFAULT_STATE_DIR, DEFAULT_URLS, client_target
    from tritonctl.server.health import is_ready
    from tritonctl.server.process import stop_child

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--http", default=DEFAULT_URLS["http"], help="host:port of Triton's HTTP endpoint")
    p.add_argument("--grpc", default=DEFAULT_URLS["grpc"], help="host:port of Triton's gRPC endpoint")
    p.add_argument("--metrics-port", type=int, default=DEFAULT_METRICS_PORT)
    p.add_argument("--repository", default="model_repository")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        p.error("give the command to run after --")
    started = False
    if is_ready(a.http):
        print(f"using the Triton already serving at {a.http}", file=sys.stderr)
    else:
        host, http_port = _host_port(client_target(a.http, "http").url)
        if host not in ("localhost", "127.0.0.1", "0.0.0.0"):
            print(f"no Triton answers at {a.http}; start it there, or point the target at a local address", file=sys.stderr)
            return 2
        serve = [sys.executable, "-m", "tritonctl", "serve", a.repository, "--detach",
                 "--http-port", http_port, "--grpc-port", _host_port(client_target(a.grpc, "grpc").url)[1],
                 "--metrics-port", str(a.metrics_port), "--state-dir", a.state_dir]
        print("no Triton at " + a.http + "; starting one: " + " ".join(serve[2:]), file=sys.stderr)
        if subprocess.call(serve) != 0:
            return 2
        started = True
    def _terminate(signum, _frame):
        raise SystemExit(128 + signum)

    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches CMD (same group); we clean up after
    old_term = signal.signal(signal.SIGTERM, _terminate)  # `timeout`, CI cancel: stop CMD, then the server
    proc = None
    try:
        proc = subprocess.Popen(cmd)
        signal.signal(signal.SIGINT, lambda *_: None)
        return proc.wait()
    finally:
        if proc is not None:
            stop_child(proc, timeout=15)
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
        if started:
            subprocess.call([sys.executable, "-m", "tritonctl", "stop", "--state-dir", a.state_dir])


if __name__ == "__main__":
    sys.exit(main())
