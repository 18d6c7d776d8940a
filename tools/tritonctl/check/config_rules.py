"""config.pbtxt on its own: name, platform/backend, batching, scheduler, version policy, labels, tensors."""

from __future__ import annotations

from tritonctl.finding import Finding, error, warning
from tritonctl.check.model_dirs import BACKEND_PLATFORM, PLATFORM_BACKEND, ModelDir, Repository

_NEEDS_IO = {"pytorch", "ensemble"}  # backends that cannot auto-complete inputs/outputs from the model


def check(repo: Repository) -> list[Finding]:
    out: list[Finding] = []
    for m in repo.models.values():
        if m.config is not None:
            out += _model(m)
    return out


def _model(m: ModelDir) -> list[Finding]:
    cfg, f, out = m.config, m.config_path, []

    def err(msg, fix, rule):
        out.append(error(f, msg, fix, rule, m.name))

    def warn(msg, fix, rule):
        out.append(warning(f, msg, fix, rule, m.name))

    if cfg.name and cfg.name != m.name:
        err(f"name: \"{cfg.name}\" differs from the directory name '{m.name}'; Triton refuses the model",
            f"set name: \"{m.name}\" (or rename the directory to {cfg.name})", "config.name")
    if not cfg.platform and not cfg.backend:
        err("neither platform nor backend is set; Triton cannot tell which backend runs the model",
            "set platform (onnxruntime_onnx, pytorch_libtorch, tensorrt_plan, ensemble) or backend (python, ...)",
            "config.platform")
    elif cfg.platform and cfg.backend and PLATFORM_BACKEND.get(cfg.platform, cfg.backend) != cfg.backend:
        err(f"platform \"{cfg.platform}\" and backend \"{cfg.backend}\" disagree",
            f"keep one: platform \"{cfg.platform}\" means backend \"{PLATFORM_BACKEND[cfg.platform]}\"",
            "config.platform")
    elif cfg.platform and cfg.platform not in PLATFORM_BACKEND:
        guess = BACKEND_PLATFORM.get(cfg.platform)
        err(f"unknown platform \"{cfg.platform}\"",
            f"use platform: \"{guess}\"" if guess else "use one of " + ", ".join(sorted(PLATFORM_BACKEND)),
            "config.platform")
    if cfg.max_batch_size < 0:
        err(f"max_batch_size {cfg.max_batch_size} is negative", "set max_batch_size: 0 (no batching) or a positive limit",
            "config.max-batch-size")
    which = cfg.WhichOneof("scheduling_choice")
    if which == "dynamic_batching":
        db = cfg.dynamic_batching
        if cfg.max_batch_size == 0:
            err("dynamic_batching is set but max_batch_size is 0: a model that does not batch cannot be batched",
                "set max_batch_size > 0 (the model's first dim must be the batch dim) or remove dynamic_batching",
                "config.scheduling")
        too_big = [b for b in db.preferred_batch_size if b > cfg.max_batch_size]
        if too_big and cfg.max_batch_size > 0:
            err(f"dynamic_batching.preferred_batch_size {too_big} exceeds max_batch_size {cfg.max_batch_size}",
                f"use preferred sizes <= {cfg.max_batch_size} or raise max_batch_size", "config.scheduling")
        if any(b <= 0 for b in db.preferred_batch_size):
            err("dynamic_batching.preferred_batch_size must be positive", "remove the zero or negative sizes",
                "config.scheduling")
    if m.is_ensemble and which != "ensemble_scheduling":
        err("platform \"ensemble\" without ensemble_scheduling: the ensemble has no steps",
            "add ensemble_scheduling { step [...] } (and no dynamic_batching/sequence_batching)", "config.scheduling")
    if which == "ensemble_scheduling" and not m.is_ensemble:
        err("ensemble_scheduling on a model whose platform is not \"ensemble\"",
            "set platform: \"ensemble\", or remove ensemble_scheduling", "config.scheduling")
    out += _version_policy(m)
    out += _tensors(m)
    return out


def _version_policy(m: ModelDir) -> list[Finding]:
    cfg, f, out = m.config, m.config_path, []
    policy = cfg.version_policy.WhichOneof("policy_choice") if cfg.HasField("version_policy") else None
    present = m.versions
    if policy == "specific":
        missing = [v for v in cfg.version_policy.specific.versions if v not in present]
        if missing:
            out.append(error(f, f"version_policy.specific names versions {missing} that do not exist "
                             f"(present: {present or 'none'}); Triton fails to load them",
                             f"create {', '.join(str(m.path / str(v)) for v in missing)} or list only {present}",
                             "config.version-policy", m.name))
    elif policy == "latest":
        n = cfg.version_policy.latest.num_versions
        if n < 1:
            out.append(error(f, "version_policy.latest.num_versions must be at least 1",
                             "set version_policy: { latest: { num_versions: 1 } }", "config.version-policy", m.name))
        elif present and n > len(present):
            out.append(warning(f, f"version_policy.latest.num_versions is {n} but only {len(present)} version(s) "
                               f"exist ({present}); Triton serves fewer than asked",
                               f"set num_versions: {len(present)} or add versions", "config.version-policy", m.name))
    return out


def _tensors(m: ModelDir) -> list[Finding]:
    from tritonclient.grpc import model_config_pb2 as mc

    cfg, f, out = m.config, m.config_path, []
    backend = m.backend
    if backend in _NEEDS_IO:
        for kind, tensors in (("input", cfg.input), ("output", cfg.output)):
            if not tensors:
                out.append(error(f, f"no {kind} declared; backend '{backend}' cannot fill them in from the model",
                                 f"declare every {kind} with name, data_type and dims", "config.tensors", m.name))
    for kind, tensors in (("input", cfg.input), ("output", cfg.output)):
        names = [t.name for t in tensors]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            out.append(error(f, f"{kind} names {dup} repeat", f"give every {kind} a unique name", "config.tensors", m.name))
        for t in tensors:
            if t.data_type == mc.TYPE_INVALID:
                out.append(error(f, f"{kind} '{t.name}' has no data_type", f"set data_type (e.g. TYPE_FP32) on '{t.name}'",
                                 "config.tensors", m.name))
            bad = [d for d in t.dims if d == 0 or d < -1]
            if bad or (not t.dims and not t.HasField("reshape")):
                out.append(error(f, f"{kind} '{t.name}' dims {list(t.dims)} are invalid: each dim is -1 (variable) "
                                 "or positive, and at least one is needed",
                                 f"fix dims of '{t.name}' (without the batch dim when max_batch_size > 0; "
                                 "use dims: [1] with reshape: { shape: [] } for a scalar)", "config.tensors", m.name))
        if kind == "output":
            for t in tensors:
                if t.label_filename and not (m.path / t.label_filename).is_file():
                    out.append(error(m.path / t.label_filename, f"output '{t.name}' names label_filename "
                                     f"\"{t.label_filename}\", which does not exist",
                                     f"put the labels (one per line) at {m.path / t.label_filename} or remove label_filename",
                                     "config.labels", m.name))
    return out
