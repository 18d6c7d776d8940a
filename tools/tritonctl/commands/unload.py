"""tritonctl unload: unload a model through Triton's repository API (explicit mode)."""

from __future__ import annotations

import argparse

from tritonctl.endpoints import DEFAULT_URLS

HELP = "unload a model from a running server (model control mode explicit)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", metavar="MODEL", help="model name(s) to unload")
    p.add_argument("--url", default=None, help=f"server address (default {DEFAULT_URLS['grpc']} for gRPC, {DEFAULT_URLS['http']} for HTTP)")
    p.add_argument("--protocol", choices=["grpc", "http"], default=None, help="grpc (default) or http")
    p.add_argument("--dependents", action="store_true", help="also unload models only this one (an ensemble) uses")


def run(args) -> int:
    from tritonctl import client as tc

    client = tc.make_client(args.url, args.protocol)
    try:
        for model in args.models:
            tc.unload_model(client, model, unload_dependents=args.dependents)
            print(f"unloaded {model}")
    finally:
        client.close()
    return 0
