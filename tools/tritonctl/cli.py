"""The thin CLI: each subcommand parses its arguments, then calls one library function.

Command modules live in ``tritonctl.commands`` and import nothing heavy at module level, so
``tritonctl --help`` stays instant; torch/onnx/tritonclient are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings

from tritonctl import __version__
from tritonctl.errors import TritonctlError

# Order is the order `tritonctl --help` lists them. Each module defines
# ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``.
COMMANDS = ["build", "check", "push", "serve", "stop", "status", "infer", "load", "unload", "rollback", "bench", "tune", "import", "cluster", "demo"]
# Commands whose name is a Python keyword live in a module with a trailing underscore.
MODULES = {"import": "import_"}


def _available_commands():
    for name in COMMANDS:
        module = f"tritonctl.commands.{MODULES.get(name, name)}"
        try:
            yield name, importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tritonctl",
        description="PyTorch models -> proven Triton model repository -> served locally and on Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"tritonctl {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="count", default=0, help="more output; tracebacks on errors")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _available_commands():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    # TorchScript is what Triton's pytorch backend loads, so build and check call torch.jit on purpose;
    # torch 2.15 marks every torch.jit.load/save/trace call with a FutureWarning ("is deprecated", or
    # on Python 3.14 "is not supported in Python 3.14+") that would repeat for each model and tells
    # the user nothing they can act on.
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is (deprecated|not supported)", category=FutureWarning)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except TritonctlError as exc:
        if args.verbose:
            raise
        print(f"tritonctl {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"tritonctl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
