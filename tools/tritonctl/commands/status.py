"""tritonctl status: what a running Triton serves, versus what its repository holds."""

from __future__ import annotations

import argparse

from tritonctl.endpoints import DEFAULT_URLS
from tritonctl.statedir import DEFAULT_STATE_DIR

HELP = "what a running server serves: models, versions and states, version policy, repository vs loaded, requests and latency split"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from tritonctl.deployed import add_key_arguments

    p.add_argument(
        "url", nargs="?", default=None,
        help=f"server address, host:port or grpc://.. http://.. (a cluster's Service through a port-forward or "
        f"Ingress); default: the server `tritonctl serve` runs from --state-dir, else {DEFAULT_URLS['grpc']}",
    )
    p.add_argument("--protocol", choices=["grpc", "http"], default=None, help="grpc (default) or http")
    p.add_argument(
        "--repository", default=None, metavar="DIR",
        help="repository directory to compare with (default: the one `tritonctl serve` serves, when local)",
    )
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="where `tritonctl serve` keeps its pid file (default %(default)s/)")
    add_key_arguments(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    import json

    from tritonctl import client as tc
    from tritonctl import deployed

    url, repo, mode = deployed.locate(args.url, args.protocol, args.state_dir, args.repository)
    client = deployed.connect(url, args.protocol, args)
    try:
        report = deployed.collect(client, tc.split_url(url, args.protocol)[1], repo)
    finally:
        client.close()
    report.model_control_mode = mode  # the local server's pid file knows it (Triton's API does not say)
    print(json.dumps(report.as_dict(), indent=2) if args.json else deployed.format_report(report))
    return 0
