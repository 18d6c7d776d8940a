"""config.pbtxt from Triton's own schema.

Every config is a ``model_config_pb2.ModelConfig`` message (tritonclient ships Triton's
model_config.proto) written with ``google.protobuf.text_format``; nothing is hand-formatted
except the explicit ``max_batch_size: 0`` that proto3 would otherwise omit.
"""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from tritonctl import exporters, naming, repository
from tritonctl.errors import RepositoryError
from tritonctl.exporters.onnx2trt import plan_filename
from tritonctl.wire.dtypes import SPEC_TO_TRITON
from tritonctl.wire.inputs import VALUES_PARAMETER, values_parameter
from tritonctl.spec import DynamicBatching, ModelSpec, PrecisionVariant, Spec, TensorSpec, Warmup

# Platform strings and default file names exactly as Triton defines them, declared by each
# format's exporter unit (tritonctl.exporters).
PLATFORMS = {fmt: (unit.PLATFORM, unit.FILENAME) for fmt, unit in exporters.UNITS.items()}
LABELS_FILE = "labels.txt"
_KINDS = {"auto": mc.ModelInstanceGroup.KIND_AUTO, "cpu": mc.ModelInstanceGroup.KIND_CPU, "gpu": mc.ModelInstanceGroup.KIND_GPU}


def artifact_filename(fmt: str | None, kind: str = "pytorch") -> str | None:
    """The file a version directory holds: model.onnx / model.pt / model.plan / model.py (ensembles none)."""
    if kind == "python":
        return repository.DEFAULT_MODEL_FILENAME["python"]
    if kind == "ensemble":
        return None
    return PLATFORMS[fmt][1]


def config_tensor_names(m: ModelSpec, fmt: str | None) -> tuple[list[str], list[str]]:
    """Input and output names as the config (and clients) see them for this format.

    TorchScript has no tensor names, so the PyTorch backend maps them by position:
    we always use its `<name>__<index>` convention, which it accepts for inputs and requires for outputs.
    """
    ins, outs = [t.name for t in m.inputs], [t.name for t in m.outputs]
    if fmt == "torchscript":
        return naming.indexed_names(ins), naming.indexed_names(outs)
    return ins, outs


def _tensor(t: TensorSpec, name: str, message_type):
    return message_type(name=name, data_type=mc.DataType.Value(SPEC_TO_TRITON[t.dtype]), dims=t.shape)


def _dynamic_batching(m: ModelSpec) -> mc.ModelDynamicBatching | None:
    if not m.batching or m.dynamic_batching is False:
        return None
    db = DynamicBatching() if m.dynamic_batching is True else m.dynamic_batching
    msg = mc.ModelDynamicBatching(
        preferred_batch_size=db.preferred_batch_size,
        max_queue_delay_microseconds=db.max_queue_delay_microseconds,
        preserve_ordering=db.preserve_ordering,
    )
    if db.default_queue_policy is not None:
        qp = db.default_queue_policy
        msg.default_queue_policy.CopyFrom(
            mc.ModelQueuePolicy(
                timeout_action=mc.ModelQueuePolicy.TimeoutAction.Value(qp.timeout_action.upper()),
                default_timeout_microseconds=qp.default_timeout_microseconds,
                allow_timeout_override=qp.allow_timeout_override,
                max_queue_size=qp.max_queue_size,
            )
        )
    return msg


def _version_policy(m: ModelSpec) -> mc.ModelVersionPolicy:
    vp = m.version_policy
    if vp.latest is not None:
        return mc.ModelVersionPolicy(latest=mc.ModelVersionPolicy.Latest(num_versions=vp.latest))
    if vp.all:
        return mc.ModelVersionPolicy(all=mc.ModelVersionPolicy.All())
    return mc.ModelVersionPolicy(specific=mc.ModelVersionPolicy.Specific(versions=vp.specific))


def _warmups(m: ModelSpec, input_names: list[str]) -> list[mc.ModelWarmup]:
    if m.warmup is False:
        return []
    w = Warmup() if m.warmup is True else m.warmup
    out = []
    for bs in w.batch_sizes:
        inputs = {}
        for t, name in zip(m.inputs, input_names):
            # Warm up at the optimal value of each dynamic dim.
            dims = [t.dim_range(i).opt for i in range(len(t.shape))]
            inputs[name] = mc.ModelWarmup.Input(
                data_type=mc.DataType.Value(SPEC_TO_TRITON[t.dtype]), dims=dims, random_data=True
            )
        out.append(mc.ModelWarmup(name=f"random_bs{bs}", batch_size=bs if m.batching else 0, inputs=inputs, count=w.count))
    return out


def _ort_tensorrt(m: ModelSpec) -> mc.ModelOptimizationPolicy:
    acc = m.ort_tensorrt
    params = {
        "precision_mode": acc.precision.upper(),
        "max_workspace_size_bytes": str(acc.workspace_mb * 1024 * 1024),
    }
    if acc.engine_cache:
        params["trt_engine_cache_enable"] = "true"
        params["trt_engine_cache_path"] = f"/tmp/trt_cache/{m.name}"
    policy = mc.ModelOptimizationPolicy()
    policy.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt", parameters=params)
    return policy


def model_config(m: ModelSpec, fmt: str | None) -> mc.ModelConfig:
    """The ModelConfig for one published model (one format of a pytorch model, or a python/ensemble model)."""
    name = m.served_name(fmt) if fmt else m.name
    cfg = mc.ModelConfig(name=name, max_batch_size=m.max_batch_size)
    if m.kind == "python":
        cfg.backend = "python"
    elif m.kind == "ensemble":
        cfg.platform = "ensemble"
    else:
        cfg.platform = PLATFORMS[fmt][0]
    if m.description:
        cfg.parameters["description"].string_value = m.description
    in_names, out_names = config_tensor_names(m, fmt)
    cfg.input.extend(_tensor(t, n, mc.ModelInput) for t, n in zip(m.inputs, in_names))
    cfg.output.extend(_tensor(t, n, mc.ModelOutput) for t, n in zip(m.outputs, out_names))
    if m.labels is not None and m.kind != "python" and cfg.output:
        cfg.output[0].label_filename = LABELS_FILE
    if m.kind == "ensemble":
        for step in m.steps:
            cfg.ensemble_scheduling.step.add(
                model_name=step.model, model_version=step.version, input_map=step.inputs, output_map=step.outputs
            )
    else:
        db = _dynamic_batching(m)
        if db is not None:
            cfg.dynamic_batching.CopyFrom(db)
        cfg.instance_group.extend(
            mc.ModelInstanceGroup(count=g.count, kind=_KINDS[g.kind], gpus=g.gpus) for g in m.instance_groups
        )
        cfg.model_warmup.extend(_warmups(m, in_names))
    cfg.version_policy.CopyFrom(_version_policy(m))
    for k, v in m.parameters.items():
        cfg.parameters[k].string_value = v
    # the inputs' values: ranges, for clients that see only the server (infer --random, bench, tune,
    # Locust, the chart's smoke test): they draw what the parity gate proved
    ranges = {n: t.values for t, n in zip(m.inputs, in_names) if t.values is not None}
    if ranges:
        cfg.parameters[VALUES_PARAMETER].string_value = values_parameter(ranges)
    if fmt == "tensorrt":
        for cc in m.tensorrt.compute_capabilities:
            cfg.cc_model_filenames[cc] = plan_filename(cc)
    if fmt == "onnx" and m.ort_tensorrt is not None:
        cfg.optimization.CopyFrom(_ort_tensorrt(m))
    return cfg


def published_models(spec: Spec) -> list[tuple[ModelSpec, str | None]]:
    """Every (model, format) pair that becomes one directory in the repository."""
    return [(m, f) for m in spec.models for f in (m.formats or [None])]


#: what a precision variant's config.pbtxt description says it is (docs/precision.md)
VARIANT_DESCRIPTIONS = {
    "int8_static": "INT8 static (QDQ, calibrated)",
    "int8_dynamic": "INT8 dynamic (weights int8, activations quantized at run time)",
    "fp16": "FP16 (inputs and outputs stay float32)",
}


def variant_config(m: ModelSpec, v: PrecisionVariant) -> mc.ModelConfig:
    """A precision variant's ModelConfig: the FP32 ONNX model's, renamed. Every conversion keeps the
    graph's input and output names and dtypes (FP16 keeps float32 I/O), so clients call both the
    same way."""
    cfg = model_config(m, "onnx")
    cfg.name = m.variant_name(v)
    base = m.served_name("onnx")
    cfg.parameters["description"].string_value = f"{VARIANT_DESCRIPTIONS[v.type]} variant of {base}" + (
        f": {m.description}" if m.description else "")
    return cfg


def build_configs(spec: Spec) -> dict[str, mc.ModelConfig]:
    """All configs models.yaml generates, keyed by published model name."""
    cfgs = [model_config(m, f) for m, f in published_models(spec)]
    cfgs += [variant_config(m, v) for m in spec.models for v in m.variants]  # <name>_int8...: docs/precision.md
    return {cfg.name: cfg for cfg in cfgs}


def to_text(cfg: mc.ModelConfig) -> str:
    text = text_format.MessageToString(cfg)
    if cfg.max_batch_size == 0:
        # proto3 omits zero scalars; Triton's docs ask for it explicitly when batching is off.
        lines = text.splitlines(keepends=True)
        at = next(i for i, line in enumerate(lines) if line.startswith(("platform", "backend"))) + 1
        lines.insert(at, "max_batch_size: 0\n")
        text = "".join(lines)
    return text


def policy_selects(cfg: mc.ModelConfig, versions) -> list[int]:
    """The versions (ascending) Triton serves among ``versions`` under cfg's version_policy
    (none set: Triton's default, ``latest 1``). One rule for `push` (what a pushed config would
    make a server load) and `rollback`/`status` (what a pinned config selects)."""
    available = sorted(set(int(v) for v in versions))
    policy = cfg.version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return available
    if kind == "specific":
        return sorted(set(policy.specific.versions) & set(available))
    n = policy.latest.num_versions if kind == "latest" else 1
    return available[-n:] if n else []


class ConfigParseError(RepositoryError):
    """A config.pbtxt that Triton's proto does not accept; ``where`` is ``path[:line:column]``."""

    def __init__(self, path: str, exc: text_format.ParseError):
        self.path, self.line, self.column, self.reason = str(path), exc.GetLine(), exc.GetColumn(), str(exc)
        self.where = f"{self.path}:{self.line}:{self.column}" if self.line else self.path
        super().__init__(f"{self.path}: {exc}")


def parse(text: str, path: str = "config.pbtxt") -> mc.ModelConfig:
    """Parse a config.pbtxt with the official proto; ``ConfigParseError`` names the file and line."""
    try:
        return text_format.Parse(text, mc.ModelConfig())
    except text_format.ParseError as exc:
        raise ConfigParseError(path, exc) from None


def read_config(path: Path) -> mc.ModelConfig:
    """A config.pbtxt file as a ``ModelConfig``; ``ConfigParseError`` names the file and the line."""
    return parse(Path(path).read_text(), str(path))
