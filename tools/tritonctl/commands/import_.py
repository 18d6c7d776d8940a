"""tritonctl import: TorchServe model archives -> models.yaml entries (+ files), optionally verified."""

HELP = "import TorchServe model archives (.mar or a model store) into models.yaml; --verify compares both servers"


def add_arguments(p):
    p.add_argument("archive", help="a .mar file, an extracted archive directory, or a TorchServe model store")
    p.add_argument("--spec", default="models.yaml", help="models.yaml to add the entries to (created if absent; default: %(default)s)")
    p.add_argument("--config", metavar="config.properties", help="TorchServe's config.properties (batching, workers, timeouts)")
    p.add_argument("--out", help="directory for the archive's files, inside the spec's directory (default: imported/ beside it)")
    p.add_argument("--name", help="Triton model name (default: the archive's model name)")
    p.add_argument("--sample", action="append", default=[], metavar="FILE",
                   help="a request body the handler accepts (repeat with a different-sized one to mark dynamic dims)")
    p.add_argument("--content-type", default="application/octet-stream",
                   help="how clients send bodies to TorchServe: application/json bodies reach the handler parsed, "
                   "text/* as str, anything else as bytes (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace models and files of an earlier import of the same name")
    p.add_argument("--verify", action="store_true",
                   help="build the import, serve the archive on TorchServe and the import on a local Triton, compare answers")
    p.add_argument("--torchserve", metavar="EXE", default=None,
                   help="the torchserve executable --verify runs (default: $TRITONCTL_TORCHSERVE, else the checkout's "
                   ".venv-peers, ./.venv-peers, the environment tritonctl runs in, then PATH)")
    p.add_argument("--peers-venv", metavar="DIR", default=None, help="a venv holding torchserve for --verify (DIR/bin/torchserve)")
    p.add_argument("-r", "--repository", help="repository for --verify's build (default: the spec's repository)")


def run(args) -> int:
    import sys
    from pathlib import Path

    from rich.console import Console

    from tritonctl.importer import import_archives

    console = Console(stderr=True, quiet=args.quiet)
    results = import_archives(
        args.archive, args.spec, out=args.out, config=args.config, samples=[Path(s) for s in args.sample],
        name=args.name, content_type=args.content_type, force=args.force,
        progress=lambda msg: console.print(f"[dim]{msg}[/dim]"),
    )
    out = Console(quiet=args.quiet, width=None if sys.stdout.isatty() else 140)
    for r in results:
        how = "split: preprocess -> model -> postprocess ensemble" if r.split else "kept whole in one Python model"
        out.print(f"[bold]{r.archive}[/bold] -> {args.spec}: {', '.join(r.models)} ({how})")
        for reason in r.reasons if not r.split else []:
            out.print(f"  [yellow]warning[/yellow]: not split because {reason}")
        for line in r.mapped:
            out.print(f"  mapped: {line}")
        for line in r.unmapped:
            out.print(f"  [yellow]not mapped[/yellow]: {line}")
        if r.requirements:
            out.print(f"  manual step: install {r.requirements} where Triton's Python backend runs "
                      "(EXECUTION_ENV_PATH or the image); locally: pip install -r it into this venv")
        out.print(f"  files: {r.directory}")
    if args.verify:
        from tritonctl.importer.verify import verify

        report = verify(results, Path(args.spec), args.peers_venv, repository=args.repository,
                        progress=lambda msg: console.print(f"[dim]{msg}[/dim]"), torchserve=args.torchserve)
        for line in report.lines():
            out.print(line)
        return 0 if report.ok else 1
    out.print(f"next: tritonctl build {args.spec}   (then tritonctl serve; or rerun with --verify)")
    return 0
