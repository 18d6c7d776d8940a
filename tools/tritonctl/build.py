"""`tritonctl build`: models.yaml -> exported, parity-proven, published model repository.

1. plan: a content hash per published model (spec fields that shape the weights + source files
   + torch version) is compared with the newest version's build.json; unchanged models are
   skipped without importing torch, so a no-change rebuild is fast.
2. export + prove: every changed model is exported into staging and run through the parity
   gate; any failure aborts the whole build before anything is published.
3. publish: versions are renamed into place, configs replaced atomically, old versions pruned.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version as pkg_version
from pathlib import Path

from tritonctl import __version__, config, repository
from tritonctl.errors import ExportError
from tritonctl.spec import ModelSpec, PrecisionVariant, Spec

log = logging.getLogger("tritonctl.build")

# Fields that change the exported artifact; all others only change config.pbtxt.
#: build.json key of the content hash without the exact max_batch_size (see artifact_depends_on_max_batch_size)
BATCH_FREE_FINGERPRINT = "fingerprint_any_batch_size"
ARTIFACT_FIELDS = ("kind", "source", "python", "requirements", "inputs", "outputs", "max_batch_size", "torchscript", "onnx", "tensorrt", "tolerance")


@dataclass
class PlanItem:
    model: ModelSpec
    fmt: str | None
    name: str
    fingerprint: str
    batch_free_fingerprint: str  # build.json's BATCH_FREE_FINGERPRINT
    version: int | None  # the version to create, None if the artifact is unchanged
    reason: str
    config_text: str
    config_changed: bool
    changes: list[str] = field(default_factory=list)
    record: dict | None = None
    variant: PrecisionVariant | None = None  # a reduced-precision variant of the model's ONNX export

    @property
    def action(self) -> str:
        if self.version is not None:
            return f"export v{self.version}"
        return "update config" if self.config_changed else "unchanged"


def _torch_version() -> str:
    try:
        return pkg_version("torch")
    except PackageNotFoundError:
        return "none"


def artifact_depends_on_max_batch_size(m: ModelSpec, fmt: str | None) -> bool:
    """Does the exported file change with the exact max_batch_size, not only with batching on/off?

    TensorRT builds its optimization profile up to it, and torch.export (the dynamo ONNX
    exporter) bounds the batch dimension by it. TorchScript, the TorchScript-based ONNX export and
    Python models keep a free batch dimension: for them max_batch_size lives in config.pbtxt only,
    so a tuned value updates the config without a new version.
    """
    return fmt == "tensorrt" or (fmt == "onnx" and m.kind == "pytorch" and m.onnx.exporter == "dynamo")


def fingerprints(m: ModelSpec, formats: list[str | None], spec: Spec) -> dict[str | None, tuple[str, str]]:
    """The content hashes of what each format's artifact is built from: format -> (exact, batch-free).
    The batch-free one hashes only whether the model batches (max_batch_size 0 or not), not how large
    its batches are. The source files (checkpoints can be large) are read once for every format and
    both hashes: each file's bytes go to all the hashes at once."""
    from tritonctl.sources import source_files

    fields = m.model_dump(mode="json", include=set(ARTIFACT_FIELDS), by_alias=True)
    if not fields.get("requirements"):
        fields.pop("requirements", None)  # models without requirements keep the hash they had before the field
    batch_free = dict(fields, max_batch_size=min(fields["max_batch_size"], 1))
    hashes = {fmt: (hashlib.sha256(), hashlib.sha256()) for fmt in formats}
    for fmt, pair in hashes.items():
        for h, f in zip(pair, (fields, batch_free)):
            h.update(json.dumps({"fields": f, "format": fmt, "torch": _torch_version()}, sort_keys=True).encode())
    every = [h for pair in hashes.values() for h in pair]
    for f in source_files(m, spec):
        try:
            data = f.read_bytes()
        except FileNotFoundError:
            data = b"<missing>"
        for h in every:
            h.update(f.name.encode())
            h.update(data)
    return {fmt: (exact.hexdigest()[:16], free.hexdigest()[:16]) for fmt, (exact, free) in hashes.items()}


def variant_fingerprint(base: str, m: ModelSpec, v: PrecisionVariant, spec: Spec) -> str:
    """A variant's content hash: its FP32 ONNX model's, the variant's options and the samples that
    calibrate and grade it (file bytes, or how many are drawn)."""
    from tritonctl.precision import calibration

    h = hashlib.sha256(base.encode())
    h.update(json.dumps({"variant": v.model_dump(mode="json"), "samples": m.precision.samples,
                         "batch": calibration.BATCH}, sort_keys=True).encode())
    for field, f in (("calibration", m.precision.calibration), ("evaluation", m.precision.evaluation)):
        if f is None:
            h.update(b"<none>")
            continue
        path = spec.resolve(f)
        if not path.is_file():  # planning (a dry run too) names it, as the build would, before anything runs
            calibration.load(path, m, field)
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def plan(spec: Spec, repo: Path) -> list[PlanItem]:
    from tritonctl.config import variant_config

    items = []
    for m, pairs in itertools.groupby(config.published_models(spec), key=lambda pair: pair[0]):
        formats = [fmt for _, fmt in pairs]
        by_format = fingerprints(m, formats, spec)  # the model's source files read once for all its formats
        _extra_files(m, spec)  # a missing labels file fails the build before anything is exported
        for fmt in formats:
            fp, fp_any_batch = by_format[fmt]
            name = m.served_name(fmt) if fmt else m.name
            items.append(_plan_item(repo, m, fmt, name, fp, fp_any_batch, config.model_config(m, fmt)))
            if fmt == "onnx":  # each variant is its own published model, built from this ONNX file
                for v in m.variants:
                    items.append(_plan_item(repo, m, fmt, m.variant_name(v), variant_fingerprint(fp, m, v, spec),
                                            variant_fingerprint(fp_any_batch, m, v, spec), variant_config(m, v), v))
    return items


def _plan_item(repo: Path, m: ModelSpec, fmt: str | None, name: str, fp: str, fp_any_batch: str, cfg,
               variant: PrecisionVariant | None = None) -> PlanItem:
    """Compare one published model with its newest version in the repository."""
    model_dir = repo / name
    latest, record = repository.latest_record(model_dir)
    artifact = config.artifact_filename(fmt, m.kind)
    if fmt == "tensorrt" and m.tensorrt.compute_capabilities:
        artifact = None  # per-GPU plan names: the build record alone says what was built
    have = latest is not None and (artifact is None or (model_dir / str(latest) / artifact).exists())
    same = record is not None and (
        record.get("fingerprint") == fp
        or (not artifact_depends_on_max_batch_size(m, fmt)
            and record.get(BATCH_FREE_FINGERPRINT) == fp_any_batch))
    if same and have:
        version, reason = None, "same content hash"
    elif latest is None:
        version, reason = 1, "no version yet"
    else:
        version, reason = latest + 1, "model changed" if record else "no build record"
    text = config.to_text(cfg)
    cfg_path = model_dir / repository.CONFIG
    changed = not cfg_path.exists() or cfg_path.read_text() != text
    return PlanItem(m, fmt, name, fp, fp_any_batch, version, reason, text, changed,
                    record=None if version else record, variant=variant)


def _example_inputs(m: ModelSpec):
    import numpy as np
    import torch

    from tritonctl.parity import random_inputs

    batch = min(2, m.max_batch_size) if m.batching else 0
    arrays = random_inputs(m, batch, 1, np.random.default_rng(1234))
    return tuple(torch.from_numpy(a) for a in arrays)


def _export_model(m: ModelSpec, items: list[PlanItem], spec: Spec, staging: repository.Staging, progress) -> None:
    """Export every changed format of one pytorch model into staging (one exporter unit each) and prove it."""
    from tritonctl import exporters, parity, sources

    module = sources.load_module(m, spec)
    example = _example_inputs(m) if module is not None else None
    if module is not None:  # a model that fails on its declared inputs is not the exporters' problem
        parity.eager_outputs(m, parity.torch_runner(module), [t.numpy() for t in example], module)
    runners = {}
    paths = {}
    for item in items:
        unit = exporters.unit(item.fmt)
        path = staging.version_dir(item.name, item.version) / unit.FILENAME
        progress(f"{item.name}: export {item.fmt}")
        job = exporters.ExportJob(m, spec, module, example, path, staging.path, exported=dict(paths))
        runners[item.fmt] = unit.export(job)
        paths[item.fmt] = path
    progress(f"{m.name}: parity")
    if module is not None:
        eager = parity.torch_runner(module)
    else:  # an ONNX source has no eager reference: the checker and a shape-checked smoke run prove it
        eager, runners = runners.pop("onnx"), {}
    reports = {r.format: r for r in parity.run(m, eager, runners, module=module)}
    metrics = getattr(module, "metrics", None) or {}
    for item in items:
        rep = reports.get(item.fmt)
        item.record = {**_record(m, item), "torch": _torch_version(),
                       "parity": rep.to_dict() if rep else None, "metrics": metrics}
        (paths[item.fmt].parent / repository.BUILD_RECORD).write_text(json.dumps(item.record, indent=2) + "\n")


def _record(m: ModelSpec, item: PlanItem) -> dict:
    """What every build.json records about the version it describes."""
    return {
        "fingerprint": item.fingerprint,
        BATCH_FREE_FINGERPRINT: item.batch_free_fingerprint,
        "model": m.name,
        "format": item.fmt,
        "version": item.version,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "tritonctl": __version__,
    }


def _stage_variants(m: ModelSpec, items: list[PlanItem], base: list[PlanItem], spec: Spec, repo: Path,
                    staging: repository.Staging, progress) -> None:
    """Precision variants, converted from the FP32 ONNX file exported in this build (or the published
    one when only the variants changed) and gated against it (tritonctl.precision)."""
    from tritonctl.precision.stage import build_variants

    onnx_item = next((i for i in base if i.fmt == "onnx"), None)
    if onnx_item is not None:
        fp32 = staging.path / onnx_item.name / str(onnx_item.version) / config.artifact_filename("onnx")
    else:
        model_dir = repo / m.served_name("onnx")
        fp32 = model_dir / str(repository.latest_record(model_dir)[0]) / config.artifact_filename("onnx")
    paths = {i.variant.suffix: staging.version_dir(i.name, i.version) / config.artifact_filename("onnx") for i in items}
    records = build_variants(m, [(i.variant, paths[i.variant.suffix]) for i in items], fp32, spec, progress)
    for item in items:
        item.record = {
            **_record(m, item),
            "parity": None,  # the gate below replaces it: a variant is graded against the FP32 ONNX model
            "precision": records[item.variant.suffix],
        }
        (paths[item.variant.suffix].parent / repository.BUILD_RECORD).write_text(json.dumps(item.record, indent=2) + "\n")


def _stage_plain(item: PlanItem, spec: Spec, staging: repository.Staging, triton_release: str | None = None) -> None:
    """Python and ensemble models: model.py copied (with its vendored requirements), or an empty version directory."""
    vdir = staging.version_dir(item.name, item.version)
    if item.model.kind == "python":
        src = spec.resolve(item.model.python)
        if not src.exists():
            raise ExportError(f"model '{item.model.name}': python {src} does not exist; fix the path in models.yaml")
        shutil.copyfile(src, vdir / "model.py")
        for extra in item.model.files:  # handler code, vocabularies... beside model.py
            path = spec.resolve(extra)
            if not path.exists() or path.name == "model.py":
                raise ExportError(f"model '{item.model.name}': files entry {path} does not exist or is named model.py; fix it in models.yaml")
            (shutil.copytree if path.is_dir() else shutil.copyfile)(path, vdir / path.name)
    item.record = {"fingerprint": item.fingerprint, BATCH_FREE_FINGERPRINT: item.batch_free_fingerprint,
                   "model": item.model.name, "format": None, "version": item.version}
    if item.model.requirements:
        from tritonctl import compat, pydeps
        from tritonctl.server.distribution import python_version  # the local stub's Python

        release = triton_release or compat.local_release()
        pythons = [compat.release_info(release).python, python_version()]
        item.record["vendored"] = pydeps.vendor(item.model.requirements, vdir, pythons, item.model.name)
        item.record["vendored_for_python"] = sorted(set(pythons))
    (vdir / repository.BUILD_RECORD).write_text(json.dumps(item.record, indent=2) + "\n")


def _check_release(staging: repository.Staging, release: str) -> None:
    """Refuse, before publishing, artifacts the target Triton release cannot load (opset, torch)."""
    from tritonctl import compat

    errors = [f for f in compat.problems_for(staging.path, release, producer_torch=_torch_version()) if f.severity == "error"]
    if errors:
        lines = "; ".join(f"{f.model}: {f.message} (fix: {f.fix})" for f in errors)
        raise ExportError(f"the exports do not fit Triton {release}: {lines}; nothing was published")


def build(
    spec: Spec, repo: Path | None = None, dry_run: bool = False, progress=None, triton_release: str | None = None
) -> list[PlanItem]:
    repo = Path(repo or spec.resolve(spec.repository))
    if triton_release:
        from tritonctl import compat

        compat.release_info(triton_release)  # an unknown release fails before any work
    progress = progress or (lambda msg: log.debug(msg))
    items = plan(spec, repo)
    if dry_run:
        return items
    todo = [i for i in items if i.version is not None]
    with repository.Staging(repo) as staging:
        by_model: dict[str, list[PlanItem]] = {}
        for item in todo:
            by_model.setdefault(item.model.name, []).append(item)
        for name, group in by_model.items():
            m = group[0].model
            base = [i for i in group if i.variant is None]
            if base and m.kind == "pytorch":
                _export_model(m, base, spec, staging, progress)
            elif base:
                _stage_plain(base[0], spec, staging, triton_release)
            variants = [i for i in group if i.variant is not None]
            if variants:
                _stage_variants(m, variants, base, spec, repo, staging, progress)
        if triton_release and todo:
            _check_release(staging, triton_release)
        # Everything is exported and proven: only now does the repository change.
        for item in items:
            if item.version is None and not item.config_changed and not _labels_changed(item, spec, repo):
                continue
            staged = staging.path / item.name / str(item.version) if item.version is not None else None
            item.changes = repository.publish(repo, item.name, item.config_text, staged, _extra_files(item.model, spec))
            if item.model.version_policy.latest:
                removed = repository.prune(repo / item.name, item.model.version_policy.latest)
                item.changes += [f"pruned v{v}" for v in removed]
    return items


def _extra_files(m: ModelSpec, spec: Spec) -> dict[str, Path]:
    if m.labels is None:
        return {}
    path = spec.resolve(m.labels)
    if not path.exists():
        raise ExportError(f"model '{m.name}': labels {path} does not exist; fix the path in models.yaml")
    return {config.LABELS_FILE: path}


def _labels_changed(item: PlanItem, spec: Spec, repo: Path) -> bool:
    for name, src in _extra_files(item.model, spec).items():
        dst = repo / item.name / name
        if not dst.exists() or dst.read_bytes() != src.read_bytes():
            return True
    return False
