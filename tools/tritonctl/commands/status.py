"""tritonctl status: what a running Triton serves, versus what its repository holds."""

from __future__ import annotations

import argparse

from tritonctl.endpoints import DEFAULT_STATE_DIR, DEFAULT_URLS

HELP = "what a running server serves: models, versions and states, version policy, repository vs loaded, requests and latency split"


def add_arguments(p: argparse.ArgumentParser) -> None:
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


def add_key_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--admin-key", default=None, metavar="KEY",
        help="key for a server whose repository API is restricted (the chart's default: its NOTES print how "
        "to read it into $TRITON_ADMIN_KEY); default $TRITON_ADMIN_KEY",
    )
    p.add_argument("--key-header", default="triton-admin-key", help="header that carries the key (the chart's server.restrictedApis.header; default %(default)s)")


def connect(url: str | None, protocol: str | None, args):
    """A client for ``url``, sending the admin key when there is one."""
    import os

    from tritonctl import client as tc
    from tritonctl import deployed

    key = args.admin_key or os.environ.get(deployed.ADMIN_KEY_ENV)
    return deployed.with_key(tc.make_client(url, protocol), key, args.key_header)


def locate(url: str | None, protocol: str | None, state_dir: str, repository: str | None):
    """(url, repository Path or None): the given ones, else the local server's record, else the defaults."""
    from pathlib import Path

    from tritonctl.errors import ClientError
    from tritonctl.server.launcher import read_pidfile

    record = read_pidfile(Path(state_dir)) or {}
    local = url is None and bool(record)  # the server `tritonctl serve` started from state_dir
    if local:
        url = record["http_url"] if protocol == "http" else record["grpc_url"]
    if repository is not None:
        repo = Path(repository)
        if not repo.is_dir():
            raise ClientError(f"--repository {repository} is not a directory (a repository in a bucket: compare "
                              "with the directory you pushed from)")
        return url, repo
    served = record.get("repository", "") if local else ""
    # a bucket the local server reads (s3://...) is not compared: the directory it was pushed from is
    return url, (Path(served) if served and "://" not in served and Path(served).is_dir() else None)


def run(args) -> int:
    import json

    from tritonctl import client as tc
    from tritonctl import deployed

    url, repo = locate(args.url, args.protocol, args.state_dir, args.repository)
    client = connect(url, args.protocol, args)
    try:
        report = deployed.collect(client, tc.split_url(url, args.protocol)[1], repo)
    finally:
        client.close()
    if args.url is None:  # the local server: its pid file knows the mode (Triton's API does not say)
        from pathlib import Path

        from tritonctl.server.launcher import read_pidfile

        report.model_control_mode = (read_pidfile(Path(args.state_dir)) or {}).get("model_control_mode")
    print(json.dumps(report.as_dict(), indent=2) if args.json else deployed.format_report(report))
    return 0
