"""tritonctl rollback: serve another version of a model on a running server (back, or forward again)."""

from __future__ import annotations

import argparse

from tritonctl.endpoints import DEFAULT_URLS
from tritonctl.statedir import DEFAULT_STATE_DIR

HELP = "roll a model back to its previous version (or --to VERSION, or --to latest to roll forward) on a running server in poll or explicit mode"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from tritonctl.deployed import add_key_arguments

    p.add_argument("model", help="model name (as in the repository)")
    p.add_argument(
        "url", nargs="?", default=None,
        help=f"server address, host:port or grpc://.. http://..; default: the server `tritonctl serve` runs "
        f"from --state-dir, else {DEFAULT_URLS['grpc']}",
    )
    p.add_argument("--to", default=None, metavar="VERSION|latest",
                   help="the version to serve (default: the newest one older than what is served); "
                   "'latest' serves the newest again (roll forward)")
    p.add_argument("--protocol", choices=["grpc", "http"], default=None, help="grpc (default) or http")
    p.add_argument(
        "--repository", default=None, metavar="DIR",
        help="the repository directory the server reads: its config.pbtxt gets the pinned version_policy "
        "(lasts across restarts; needed in poll mode). Without it an explicit-mode server gets the policy "
        "with the load request (lasts until it restarts). Default: the one `tritonctl serve` serves, when local",
    )
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="where `tritonctl serve` keeps its pid file (default %(default)s/)")
    p.add_argument("--no-server", action="store_true",
                   help="only pin the --repository directory (then `tritonctl push` it for a server that reads a "
                   "bucket, or restart a server in model-control mode none)")
    add_key_arguments(p)
    p.add_argument("--timeout", type=float, default=120, help="seconds to wait for the server to serve the version (default 120)")


def run(args) -> int:
    from pathlib import Path

    from tritonctl import deployed

    url, repo, mode = deployed.locate(args.url, args.protocol, args.state_dir, args.repository)
    if args.no_server:  # deployed.pin refuses it without --repository
        result = deployed.pin(None, args.model, args.to, Path(args.repository) if args.repository else None)
        print(f"{result.model}: {result.written} now selects version {', '.join(result.served)} (was "
              f"{', '.join(result.was) or 'none'}; policy '{result.policy}'); publish it (`tritonctl push`), then a "
              "polling server picks it up, a server in mode none at its restart")
        return 0
    client = deployed.connect(url, args.protocol, args)
    try:
        result = deployed.pin(client, args.model, args.to, repo, mode=mode, timeout_s=args.timeout)
    except Exception as exc:  # noqa: BLE001 - a refused key gets its fix named, the rest goes on as it was
        raise deployed.explain_restricted(exc, url or "the server") from exc
    finally:
        client.close()
    where = f"{result.written} ({'picked up by the polling server' if result.how == 'poll' else 'then loaded'})" \
        if result.written else "the load request (the repository is unchanged: the server returns to it when it restarts)"
    print(f"{result.model}: serving version {', '.join(result.served)} (was {', '.join(result.was) or 'none'}); "
          f"version policy '{result.policy}' through {where}")
    if result.written:
        print("  `tritonctl build` rewrites config.pbtxt from models.yaml: set version_policy there to keep the pin; "
              "push the directory when a server reads a bucket")
    if result.policy.startswith("specific"):
        print(f"  roll forward again: tritonctl rollback {result.model} --to latest")
    return 0
