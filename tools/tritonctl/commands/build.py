"""tritonctl build: export, prove and publish the models of models.yaml."""

HELP = "export models.yaml to TorchScript/ONNX, prove each export against eager PyTorch, write model_repository/"


def add_arguments(p):
    p.add_argument("spec", nargs="?", default="models.yaml", help="path to models.yaml (default: %(default)s)")
    p.add_argument("-r", "--repository", help="output repository (default: `repository:` in the spec)")
    p.add_argument("-n", "--dry-run", action="store_true", help="show what would be exported and written, change nothing")
    p.add_argument(
        "--triton-release", metavar="YY.MM",
        help="refuse exports this Triton release cannot load (ONNX opset, TorchScript format); e.g. the chart's image tag",
    )
    p.add_argument("-m", "--model", action="append", default=[], help="build only this model (repeatable)")


def run(args) -> int:
    import logging
    import sys
    from pathlib import Path

    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from tritonctl import build, spec as spec_mod

    spec = spec_mod.load(args.spec)
    if args.model:
        wanted = set(args.model)
        unknown = wanted - {m.name for m in spec.models}
        if unknown:
            from tritonctl.errors import SpecError

            raise SpecError(f"{args.spec}: no model named {sorted(unknown)}; known: {[m.name for m in spec.models]}")
        spec.models = [m for m in spec.models if m.name in wanted]
    repo = Path(args.repository) if args.repository else spec.resolve(spec.repository)
    console = Console(stderr=True, quiet=args.quiet)
    quiet = args.quiet or logging.getLogger().level > logging.INFO

    if args.dry_run:
        items = build.build(spec, repo, dry_run=True)
    else:
        todo = sum(1 for i in build.plan(spec, repo) if i.version is not None)
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(), console=console, transient=True, disable=quiet or todo == 0,
        ) as bar:
            task = bar.add_task("building", total=None)

            def progress(msg: str) -> None:
                bar.update(task, description=msg, advance=0)

            items = build.build(spec, repo, progress=progress, triton_release=args.triton_release)

    table = Table(title=f"{'plan for' if args.dry_run else 'built'} {repo}", title_justify="left")
    for col in ("model", "format", "action", "parity (max abs error / atol)"):
        table.add_column(col)
    for i in items:
        action = i.action if args.dry_run else (", ".join(i.changes) or "unchanged")
        par = ""
        if i.record and i.record.get("parity"):
            par = "; ".join(
                f"{o['name']} {o['max_abs']:.2g}/{o['atol']:g}" for o in i.record["parity"]["outputs"]
            )
        elif i.record and i.record.get("precision"):  # a variant: its accuracy gate against the FP32 model
            g = i.record["precision"]["gate"]
            op = "<=" if g["metric"] == "rel_error" else ">="
            par = f"{g['metric']} {g['value']:.4f} {op} {g['threshold']:g} (n={g['samples']})"
        elif i.record and i.fmt == "onnx" and isinstance(i.model.source, spec_mod.OnnxSource):
            par = "none: an ONNX source has no eager PyTorch to compare with (checked against its graph, onnx.checker)"
        if i.record and i.record.get("metrics"):
            par += "  " + " ".join(f"{k}={v}" for k, v in i.record["metrics"].items())
        fmt = f"{i.fmt} {i.variant.type}" if i.variant is not None else (i.fmt or i.model.kind)
        table.add_row(i.name, fmt, action + (f" ({i.reason})" if args.dry_run else ""), par)
    Console(quiet=args.quiet, width=None if sys.stdout.isatty() else 140).print(table)
    return 0
