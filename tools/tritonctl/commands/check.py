"""`tritonctl check [REPO]`: lint a model repository offline, the way Triton would load it."""

from __future__ import annotations

HELP = "lint a model repository offline (layout, configs vs model files, ensembles, drift, Triton release)"


def add_arguments(parser) -> None:
    parser.add_argument("repository", nargs="?", default="model_repository",
                        help="the model repository: a directory, or s3://, gs://, as:// as `tritonctl push` writes it "
                             "(default: model_repository)")
    parser.add_argument("--spec", metavar="MODELS_YAML",
                        help="also report configs that differ from what this models.yaml generates (drift)")
    parser.add_argument("--triton-release", metavar="YY.MM",
                        help="also check model files against this Triton release (e.g. 24.10, 25.01-py3)")
    parser.add_argument("--format", choices=["human", "json"], default="human", help="output format")
    parser.add_argument("--strict", action="store_true", help="exit non-zero on warnings too")
    parser.add_argument("--list-releases", action="store_true",
                        help="print the known Triton releases (ONNX Runtime, opset, libtorch, TensorRT) and exit")


def run(args) -> int:
    if args.list_releases:
        return _list_releases(args.format)
    from tritonctl.check import check_repository

    if "://" in args.repository and not args.repository.startswith("file://"):
        from tritonctl.check.remote import check_remote

        report = check_remote(args.repository, spec=args.spec, release=args.triton_release)
    else:
        report = check_repository(args.repository, spec=args.spec, release=args.triton_release)
    print(report.to_json() if args.format == "json" else report.to_text())
    if report.errors or (args.strict and report.warnings):
        return 1
    return 0


def _list_releases(fmt: str) -> int:
    import json
    from dataclasses import asdict

    from tritonctl import compat

    infos = [compat.release_info(r) for r in compat.known_releases()]
    if fmt == "json":
        print(json.dumps([asdict(i) for i in infos], indent=2))
        return 0
    print(f"{'release':8} {'triton':8} {'onnxruntime':12} {'opset':5} {'IR':3} {'libtorch':16} tensorrt")
    for i in infos:
        print(f"{i.release:8} {i.triton:8} {i.onnxruntime:12} {i.max_onnx_opset:<5} {i.max_ir_version:<3} "
              f"{i.libtorch + ' (' + i.libtorch_status + ')':16} {i.tensorrt or '?'} (assumed)")
    print(f"sources and certainty: {compat.DATA}")
    return 0
