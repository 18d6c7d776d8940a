"""tritonctl demo: `make demo` from wherever tritonctl is installed (the work: tritonctl.demo)."""

from __future__ import annotations

import argparse

HELP = "the whole path on one machine: serve a repository, a real digit through the pipeline, a short load, a summary"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--repository", default="model_repository", help="the repository to serve (default %(default)s)")
    p.add_argument("--load-seconds", type=int, default=10, help="seconds of Locust load (default %(default)s)")
    p.add_argument("--no-load", action="store_true", help="skip the Locust load")
    p.add_argument("--state-dir", default=".tritonctl/demo", help="the server's state directory (default %(default)s/)")


def run(args) -> int:
    from tritonctl.demo import run as demo

    return demo(args)
