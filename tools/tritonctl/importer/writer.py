"""Write the import: models.yaml entries and, beside it, one directory per archive.

Layout for an archive imported as NAME (OUT defaults to `imported/` beside models.yaml)::

    OUT/NAME/archive/        the archive's files as TorchServe extracts them (model file, weights,
                             handler, extra files, requirements.txt, MAR-INF/MANIFEST.json)
    OUT/NAME/handler/        the same without the weights: what the preprocess/postprocess steps get
    OUT/NAME/model.py        the Triton Python model (triton_model.py) for every handler step
    OUT/NAME/handler_runtime.py   runs the handler the way TorchServe's worker does
    OUT/NAME/requirements.txt     the archive's, when it has one (install it where the Python backend runs)

Everything is written into a staging directory first; the directory is renamed into place and
models.yaml replaced atomically only after the new entries validate: a failed import writes nothing.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tritonctl import naming
from tritonctl.importer import archive as archive_mod
from tritonctl.importer import settings as settings_mod
from tritonctl.importer.archive import Archive, ArchiveError

HERE = Path(__file__).resolve().parent
PROBE_TIMEOUT_S = 600


@dataclass
class ImportResult:
    name: str
    archive: Path
    split: bool
    models: list[str]
    reasons: list[str]  # why the handler was kept whole (empty when split)
    mapped: list[str]
    unmapped: list[str]
    directory: Path
    samples: list[bytes] = field(default_factory=list)
    responses: list[bytes] = field(default_factory=list)  # the handler's own answers to the samples
    content_type: str = "application/octet-stream"
    requirements: Path | None = None


def _safe_name(name: str) -> str:
    safe = re.sub(r"\W", "_", name)
    return safe if safe and not safe[0].isdigit() else f"m_{safe}"


def _run_module(module: str, request: dict) -> tuple[dict | None, subprocess.CompletedProcess]:
    """`python -m MODULE REQUEST.json RESULT.json` in a scratch directory (its working directory): the
    archive's code is imported there, never in this process. Returns the result, or None when the
    module died before writing one, and the finished process."""
    with tempfile.TemporaryDirectory(prefix="tritonctl-import-") as tmp:
        req_path, out_path = Path(tmp) / "request.json", Path(tmp) / "result.json"
        req_path.write_text(json.dumps(request))
        proc = subprocess.run([sys.executable, "-m", module, str(req_path), str(out_path)],
                              capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, cwd=tmp)
        return (json.loads(out_path.read_text()) if out_path.exists() else None), proc


def _probe(arch: Archive, name: str, samples: list[bytes], body_as: str, batch_size: int) -> dict:
    from tritonctl.importer.samples import candidate_groups

    request = {
        "model_dir": str(arch.root), "model_name": arch.name, "body_as": body_as, "batch_size": batch_size,
        "samples": [base64.b64encode(s).decode() for s in samples],
        "candidate_groups": [[base64.b64encode(s).decode() for s in g] for g in candidate_groups()],
    }
    result, proc = _run_module("tritonctl.importer.probe", request)
    if result is None:
        raise ArchiveError(f"{arch.path}: analysing the handler crashed (exit {proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-800:]}; run it under TorchServe to see the failure")
    if "error" in result:
        fixes = {
            "handler": "install what it imports into this environment (the archive's requirements.txt: "
            + (str(arch.requirements.name) if arch.requirements else "none") + "), or fix the handler and re-create "
            "the archive with torch-model-archiver",
            "weights": "save the state_dict of the --model-file class (torch.save(model.state_dict(), path)) or a "
            "TorchScript file, and re-create the archive",
            "sample": "pass --sample FILE with a request body the handler accepts (repeat it with a second, "
            "different-sized body to mark dynamic dimensions)",
        }
        if result["kind"] == "handler" and "torchvision" in result["error"]:
            # PyPI's torchvision imports only beside the torch it was built with (docs/from-torchserve.md)
            fixes["handler"] = ("import from an environment where torch and torchvision import together: "
                                "`make vision-install`, then `.venv-vision/bin/tritonctl import ...`")
        raise ArchiveError(f"{arch.path}: {result['error']}; fix: {fixes.get(result['kind'], 'fix the archive')}")
    return result


def _tensor(name: str, spec: dict) -> dict:
    t = {"name": name, "dtype": spec["dtype"], "shape": spec["shape"]}
    if "values" in spec:
        t["values"] = spec["values"]
    return t


def _entries(name: str, safe: str, rel: Path, arch: Archive, probe: dict, mapping: settings_mod.Mapping,
             body_as: str, onnx_ok: bool) -> list[dict]:
    common = {"max_batch_size": mapping.max_batch_size, "dynamic_batching": mapping.dynamic_batching,
              "instance_groups": [{"count": mapping.instance_count, "kind": mapping.instance_kind}]}
    body = [{"name": "BODY", "dtype": "string", "shape": [1]}]
    response = [{"name": "RESPONSE", "dtype": "string", "shape": [1]}]
    params = {"ts_model_name": arch.name, "body_as": body_as}
    origin = f"TorchServe archive {arch.path.name} (handler {arch.handler}, version {arch.version})"
    if not probe.get("split"):
        return [{"name": name, "kind": "python", "description": f"{origin}, kept whole: {probe['reasons'][0]}",
                 "python": str(rel / "model.py"), "files": [str(rel / "handler_runtime.py"), str(rel / "archive")],
                 "inputs": body, "outputs": response, **common,
                 "parameters": {**params, "role": "whole", "archive_dir": "archive"}}]
    ins = [_tensor(f"input{i}", s) for i, s in enumerate(probe["inputs"])]
    outs = [_tensor(f"output{i}", s) for i, s in enumerate(probe["outputs"])]
    if probe["torchscript"]:
        source = {"torchscript": str(rel / "archive" / arch.serialized_file)}
    else:
        module = ".".join(rel.parts + ("archive", arch.model_file.rsplit(".", 1)[0]))
        source = {"checkpoint": str(rel / "archive" / arch.serialized_file), "class": f"{module}:{probe['model_class']}"}
    formats = ["onnx", "torchscript"] if onnx_ok else ["torchscript"]
    handler_files = [str(rel / "handler_runtime.py"), str(rel / "handler")]
    strip = lambda ts: [{k: v for k, v in t.items() if k != "values"} for t in ts]  # noqa: E731
    # The model step's keys are its tensors as Triton serves them: ONNX by name, TorchScript (when
    # ONNX cannot export the model) by position, `<name>__<index>` (naming.py)
    served = lambda ts: [t["name"] for t in ts] if onnx_ok else naming.indexed_names([t["name"] for t in ts])  # noqa: E731
    return [
        {"name": f"{name}_model", "description": f"the model of {origin}", "source": source,
         "inputs": ins, "outputs": outs, "formats": formats, **common},
        {"name": f"{name}_preprocess", "kind": "python", "description": f"handler.preprocess of {origin}",
         "python": str(rel / "model.py"), "files": handler_files, "inputs": body, "outputs": strip(ins), **common,
         "parameters": {**params, "role": "preprocess", "archive_dir": "handler", "structure": probe["structure_in"]}},
        {"name": f"{name}_postprocess", "kind": "python", "description": f"handler.postprocess of {origin}",
         "python": str(rel / "model.py"), "files": handler_files, "inputs": strip(outs), "outputs": response, **common,
         "parameters": {**params, "role": "postprocess", "archive_dir": "handler", "structure": probe["structure_out"]}},
        {"name": name, "kind": "ensemble", "description": f"{origin}: request body in, TorchServe's response out",
         "max_batch_size": mapping.max_batch_size, "inputs": body, "outputs": response,
         "steps": [
             {"model": f"{name}_preprocess", "inputs": {"BODY": "BODY"}, "outputs": {t["name"]: t["name"] for t in ins}},
             {"model": f"{name}_model", "inputs": dict(zip(served(ins), (t["name"] for t in ins))),
              "outputs": dict(zip(served(outs), (t["name"] for t in outs)))},
             {"model": f"{name}_postprocess", "inputs": {t["name"]: t["name"] for t in outs}, "outputs": {"RESPONSE": "RESPONSE"}},
         ]},
    ]


def _onnx_export_failure(model_entry: dict, staging: Path, safe: str) -> str | None:
    """None when `tritonctl build` exports the model entry to ONNX, else the first line of why not.

    The build itself decides (importer/onnx_check.py in a subprocess: the archive's code is
    imported), on the entry with formats [onnx] in a models.yaml at the root of `staging`, where
    the imported files sit as the project will hold them: the entry's paths and its class's module
    resolve there as they will from the project's models.yaml.
    """
    spec_path = staging / f"onnx-check-{safe}.yaml"  # not an identifier: never a package of the tree
    spec_path.write_text(_dump({"models": [dict(model_entry, formats=["onnx"])]}))
    try:
        # the scratch repository is relative: it lands in _run_module's scratch directory
        result, proc = _run_module("tritonctl.importer.onnx_check", {"spec": str(spec_path), "repository": "model_repository"})
    except subprocess.TimeoutExpired:
        return f"the ONNX export did not finish in {PROBE_TIMEOUT_S} s"
    finally:
        spec_path.unlink()
    if result is None:
        last = ((proc.stderr or proc.stdout).strip().splitlines() or [""])[-1]
        return f"the ONNX export crashed (exit {proc.returncode}){': ' + last if last else ''}"
    return None if result["exports"] else result["reason"]


class _Dumper(yaml.SafeDumper):
    """No &id001 anchors: every entry reads on its own."""

    def ignore_aliases(self, data):
        return True


def _dump(data) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=None, width=120)


def _append_entries(spec_path: Path, entries: list[dict], replace: set[str]) -> str:
    """models.yaml text with the entries added (the user's own text and comments kept as they are)."""
    def indented(indent: str) -> str:
        return "\n".join((indent + line) if line else line for line in _dump(entries).splitlines()) + "\n"

    if not spec_path.exists():
        return ("# Written by `tritonctl import`; build with `tritonctl build " + spec_path.name + "`.\n"
                "repository: model_repository\n\nmodels:\n" + indented("  "))
    text = spec_path.read_text()
    # The new items take the indentation of the file's own `models:` items.
    items = re.search(r"^models:\s*\n(?:\s*#.*\n|\s*\n)*( *)- ", text, re.M)
    block = indented(items.group(1) if items else "  ")
    raw = yaml.safe_load(text) or {}
    models = raw.get("models") or []
    clash = sorted({m.get("name") for m in models if isinstance(m, dict)} & {e["name"] for e in entries})
    if clash and not replace:
        raise ArchiveError(f"{spec_path}: already has models {clash}; pass --name NEW to import under another name, "
                           "or --force to replace them")
    if clash:  # --force: rewrite the file through YAML (its comments are lost, the rest is kept)
        raw["models"] = [m for m in models if m.get("name") not in set(clash)] + entries
        return _dump(raw)
    last_key = list(raw)[-1] if raw else None
    if last_key != "models":
        raw["models"] = models + entries
        return _dump(raw)
    return text.rstrip("\n") + f"\n\n  # imported by tritonctl import\n" + block


def import_archives(source: str | Path, spec_path: str | Path = "models.yaml", *, out: str | Path | None = None,
                    config: str | Path | None = None, samples: list[Path] | None = None, name: str | None = None,
                    content_type: str = "application/octet-stream", force: bool = False, progress=None) -> list[ImportResult]:
    """Import one archive or a model store; returns one result per archive. Raises ArchiveError."""
    from tritonctl import spec as spec_mod
    from tritonctl.errors import SpecError
    from tritonctl.repository import Staging, write_atomic

    progress = progress or (lambda msg: None)
    spec_path = Path(spec_path)
    base = spec_path.resolve().parent
    out_dir = Path(out) if out else base / "imported"
    out_dir = out_dir if out_dir.is_absolute() else (Path.cwd() / out_dir)
    try:
        rel_out = out_dir.resolve().relative_to(base)
    except ValueError:
        raise ArchiveError(f"--out {out_dir} must be inside the directory of {spec_path} (its models import from there)") from None
    if not all(p.isidentifier() for p in rel_out.parts):
        raise ArchiveError(f"--out {rel_out}: each part of the path must be a Python identifier (the model class is "
                           "imported from it); choose e.g. imported/")
    body_as = "json" if content_type == "application/json" else ("text" if content_type.startswith("text/") else "bytes")
    props, props_path = None, None
    if config:
        props_path = Path(config)
        try:
            props = settings_mod.parse_properties(props_path.read_text())
        except OSError as exc:
            raise ArchiveError(f"{props_path}: cannot be read ({exc}); pass the path to TorchServe's config.properties") from None
    sample_bytes = []
    for s in samples or []:
        try:
            sample_bytes.append(Path(s).read_bytes())
        except OSError as exc:
            raise ArchiveError(f"--sample {s}: cannot be read ({exc})") from None
    paths = archive_mod.archives_in(source)
    if name and len(paths) > 1:
        raise ArchiveError(f"{source}: --name names one archive, but this model store holds {len(paths)}")
    # The build's staging directory beside OUT: removed on exit, leftovers of a killed run cleared.
    with Staging(out_dir) as scratch:
        staging = scratch.path
        results, entries = [], []
        for path in paths:
            progress(f"{path.name}: reading")
            arch = archive_mod.open_archive(path, staging / f"extract-{len(results)}")
            model_name = name or arch.name
            if not spec_mod.MODEL_NAME.match(model_name):
                raise ArchiveError(f"{path}: model name '{model_name}' is not a valid Triton name; pass --name")
            safe = _safe_name(model_name)
            if (out_dir / safe).exists() and not force:
                raise ArchiveError(f"{out_dir / safe} already exists; pass --force to replace it, or --name NEW")
            s, notes = settings_mod.model_settings(arch.name, arch.version, arch.yaml_config, props, props_path)
            mapping = settings_mod.map_settings(s, props, notes)
            progress(f"{path.name}: analysing the handler")
            probe = _probe(arch, model_name, sample_bytes, body_as, mapping.max_batch_size)
            rel = rel_out / safe
            # Staged where the project will hold it (staging/<rel>), so that the ONNX check's
            # models.yaml at the staging root resolves the entry as the project's models.yaml will.
            target = staging / rel
            target.mkdir(parents=True)
            shutil.copytree(arch.root, target / "archive")
            shutil.copyfile(HERE / "triton_model.py", target / "model.py")
            shutil.copyfile(HERE / "handler_runtime.py", target / "handler_runtime.py")
            if probe.get("split"):
                shutil.copytree(arch.root, target / "handler",
                                ignore=lambda d, names: [n for n in names if Path(d) == arch.root and n == arch.serialized_file])
            if arch.requirements:
                shutil.copyfile(arch.requirements, target / "requirements.txt")
            onnx_failure = None
            if probe.get("split"):
                progress(f"{path.name}: exporting the model to ONNX as the build will")
                model_entry = _entries(model_name, safe, rel, arch, probe, mapping, body_as, onnx_ok=True)[0]
                onnx_failure = _onnx_export_failure(model_entry, staging, safe)
                if onnx_failure:
                    mapping.unmapped.append(f"torch.onnx does not export this model: it is served as TorchScript "
                                            f"({onnx_failure})")
            new = _entries(model_name, safe, rel, arch, probe, mapping, body_as, onnx_ok=onnx_failure is None)
            entries += new
            results.append(ImportResult(
                name=model_name, archive=path, split=bool(probe.get("split")), models=[e["name"] for e in new],
                reasons=probe["reasons"], mapped=mapping.mapped, unmapped=mapping.unmapped, directory=out_dir / safe,
                samples=[base64.b64decode(x) for x in probe["samples"]],
                responses=[base64.b64decode(x) for x in probe["responses"]], content_type=content_type,
                requirements=(out_dir / safe / "requirements.txt") if arch.requirements else None))
            shutil.rmtree(arch.root)
        text = _append_entries(spec_path, entries, replace=set() if not force else {e["name"] for e in entries})
        # Validate the new models.yaml (schema and links between entries) before anything is published.
        check = staging / spec_path.name
        check.write_text(text)
        try:
            spec_mod.load(check)
        except SpecError as exc:
            raise ArchiveError(f"the entries written for {source} do not validate: {exc}") from None
        out_dir.mkdir(parents=True, exist_ok=True)
        for r in results:
            if r.directory.exists():
                shutil.rmtree(r.directory)
            (staging / rel_out / r.directory.name).rename(r.directory)
        write_atomic(spec_path, text)
        return results
