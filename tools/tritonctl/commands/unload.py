"""tritonctl unload: unload a model through Triton's repository API (explicit mode)."""

from __future__ import annotations

import argparse

HELP = "unload a model from a running server (model control mode explicit)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", metavar="MODEL", help="model name(s) to unload")
    p.add_argument("--url", default=None, help="server address (default localhost:8001 for gRPC, localhost:8000 for HTTP)")
    p.add_argument("--protocol", choices=["grpc", "http"], default=None, help="grpc (default) or http")
    p.add_argument("--dependents", action="store_true", help="also unload models only this one (an ensemble) uses")


def run(args) -> int:
    from tritonctl import client as tc

    client = tc.make_client(args.url, args.protocol)
    try:
        for model in args.models:
            tc._call(f"unload model '{model}'", client.unload_model, model, unload_dependents=args.dependents)
            print(f"unloaded {model}")
    finally:
        client.close()
    return 0
