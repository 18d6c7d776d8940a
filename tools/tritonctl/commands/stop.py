"""tritonctl stop: stop the server `tritonctl serve --detach` started (and every stub it runs)."""

from __future__ import annotations

import argparse

from tritonctl.statedir import DEFAULT_STATE_DIR

HELP = "stop the local Triton started with `tritonctl serve --detach`"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="the state directory serve used (default %(default)s/)")
    p.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds to wait for a clean exit before killing (default: the server's exit timeout + 15)",
    )


def run(args) -> int:
    from pathlib import Path

    from tritonctl.server.launcher import stop_recorded

    record = stop_recorded(Path(args.state_dir), timeout=args.timeout)
    if record is None:
        print(f"no tritonctl server is running from {args.state_dir}")
        return 0
    print(f"stopped Triton (pid {record['pid']}, HTTP {record.get('http_url')}, gRPC {record.get('grpc_url')})")
    return 0
