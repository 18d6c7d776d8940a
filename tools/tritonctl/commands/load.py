"""tritonctl load: load (or reload) a model through Triton's repository API (explicit mode)."""

from __future__ import annotations

import argparse

from tritonctl.endpoints import DEFAULT_URLS

HELP = "load or reload a model on a running server (model control mode explicit)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", metavar="MODEL", help="model name(s) in the server's repository")
    p.add_argument("--url", default=None, help=f"server address (default {DEFAULT_URLS['grpc']} for gRPC, {DEFAULT_URLS['http']} for HTTP)")
    p.add_argument("--protocol", choices=["grpc", "http"], default=None, help="grpc (default) or http")


def run(args) -> int:
    from tritonctl import client as tc
    from tritonctl.server.health import ModelNotReady, wait_for_model_ready

    client = tc.make_client(args.url, args.protocol)
    try:
        for model in args.models:
            tc.load_model(client, model)
            try:  # Triton answers a load once it is done: one look, no wait
                wait_for_model_ready(client, model, timeout_s=0)
                print(f"loaded {model}")
            except ModelNotReady as exc:
                print(f"loaded {model} ({exc})")
    finally:
        client.close()
    return 0
