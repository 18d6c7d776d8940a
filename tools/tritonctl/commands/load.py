"""tritonctl load: load (or reload) a model through Triton's repository API (explicit mode)."""

from __future__ import annotations

import argparse

HELP = "load or reload a model on a running server (model control mode explicit)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", metavar="MODEL", help="model name(s) in the server's repository")
    p.add_argument("--url", default=None, help="server address (default localhost:8001 for gRPC, localhost:8000 for HTTP)")
    p.add_argument("--protocol", choices=["grpc", "http"], default=None, help="grpc (default) or http")


def run(args) -> int:
    from tritonctl import client as tc

    client = tc.make_client(args.url, args.protocol)
    try:
        for model in args.models:
            tc._call(f"load model '{model}'", client.load_model, model)
            ready = client.is_model_ready(model)
            print(f"loaded {model}" + ("" if ready else " (not ready)"))
    finally:
        client.close()
    return 0
