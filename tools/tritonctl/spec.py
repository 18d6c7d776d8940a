"""models.yaml: the declarative model spec, validated on load.

Every validation error names the file, the model and the field, and says how to fix it.
(Over 400 lines on purpose: it is the schema of one file, pydantic models that nest in each
other plus the loader that turns their errors into messages; split, the schema would be read in
pieces. The type names and dynamic-dimension defaults live in ``dtypes`` and ``shapes``.)
A minimal entry is five lines::

    models:
      - name: linear
        source: examples.linear:build
        inputs:
          - {name: x, dtype: float32, shape: [10]}
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Union

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from tritonctl import exporters
from tritonctl.wire.dtypes import SPEC_TO_TRITON
from tritonctl.errors import SpecError
from tritonctl.wire.shapes import DYNAMIC_DIM, DimLengths

# the numpy-style dtype names the spec accepts: the keys of tritonctl.wire.dtypes' one table
Dtype = Literal[tuple(SPEC_TO_TRITON)]  # type: ignore[valid-type]
Format = Literal[exporters.FORMATS]  # type: ignore[valid-type]  # one exporter unit per format
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class _Strict(BaseModel):
    # Unknown fields are errors: a typo must never be silently ignored.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class DimRange(_Strict):
    """min/opt/max per dimension of the per-sample shape (used for -1 dims only)."""

    min: list[int]
    opt: list[int]
    max: list[int]

    @model_validator(mode="after")
    def _ordered(self) -> "DimRange":
        if not (len(self.min) == len(self.opt) == len(self.max)):
            raise ValueError("min, opt and max must have the same length as shape")
        for i, (lo, mid, hi) in enumerate(zip(self.min, self.opt, self.max)):
            if not (1 <= lo <= mid <= hi):
                raise ValueError(f"dim {i}: need 1 <= min <= opt <= max, got {lo}/{mid}/{hi}")
        return self


class TensorSpec(_Strict):
    name: str
    dtype: Dtype
    shape: list[int] = Field(description="per-sample shape (without the batch dim); -1 = dynamic")
    range: Optional[DimRange] = Field(default=None, description="min/opt/max of dynamic dims")
    values: Optional[tuple[float, float]] = Field(
        default=None, description="[low, high) of valid values for random inputs (e.g. token ids)"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_.:-]*$", v):
            raise ValueError(f"'{v}' is not a valid tensor name: use letters, digits and _")
        return v

    @field_validator("shape")
    @classmethod
    def _shape(cls, v: list[int]) -> list[int]:
        if any(d == 0 or d < -1 for d in v):
            raise ValueError(f"{v}: dims must be positive or -1 (dynamic)")
        return v

    @model_validator(mode="after")
    def _range_fits(self) -> "TensorSpec":
        if self.range is not None:
            if len(self.range.min) != len(self.shape):
                raise ValueError(f"range has {len(self.range.min)} dims but shape {self.shape} has {len(self.shape)}")
            for i, d in enumerate(self.shape):
                if d != -1 and not (self.range.min[i] == self.range.opt[i] == self.range.max[i] == d):
                    raise ValueError(f"range dim {i} must equal the fixed shape dim {d} (or make the dim -1)")
        return self

    def dim_range(self, dim: int) -> DimLengths:
        """(min, opt, max) of dimension ``dim``: the spec's range, else ``shapes.DYNAMIC_DIM``
        for a dynamic dim; a fixed dim is its own min, opt and max."""
        d = self.shape[dim]
        if d != -1:
            return DimLengths(d, d, d)
        if self.range is None:
            return DYNAMIC_DIM
        return DimLengths(self.range.min[dim], self.range.opt[dim], self.range.max[dim])

    def dim_values(self, dim: int) -> list[int]:
        """The values a dimension is tested at: its distinct min, opt and max."""
        return sorted(set(self.dim_range(dim)))

    @property
    def dynamic(self) -> bool:
        return -1 in self.shape


class CallableSource(_Strict):
    callable: str = Field(description="'module:function' returning an nn.Module")
    kwargs: dict[str, Any] = {}

    @field_validator("callable")
    @classmethod
    def _callable(cls, v: str) -> str:
        if not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", v):
            raise ValueError(f"'{v}' is not 'module:function' (e.g. examples.digits:build)")
        return v


class CheckpointSource(_Strict):
    checkpoint: Path = Field(
        description="torch.save of a state_dict or a training checkpoint (with class), or of a whole module (without class)"
    )
    class_: Optional[str] = Field(
        default=None, alias="class", description="'module:Class' of the nn.Module the state_dict loads into"
    )
    kwargs: dict[str, Any] = {}

    @model_validator(mode="after")
    def _kwargs_need_class(self) -> "CheckpointSource":
        if self.kwargs and self.class_ is None:
            raise ValueError("kwargs construct `class`: a whole pickled module (checkpoint without class) takes none")
        return self


class TorchScriptSource(_Strict):
    torchscript: Path


class OnnxSource(_Strict):
    onnx: Path


def _source_kind(v: Any) -> Optional[str]:
    keys = v if isinstance(v, dict) else vars(v)
    return next((k for k in ("callable", "checkpoint", "torchscript", "onnx") if k in keys), None)


# Tagged by whichever key is present, so an error names that source's fields only.
Source = Annotated[
    Union[
        Annotated[CallableSource, Tag("callable")],
        Annotated[CheckpointSource, Tag("checkpoint")],
        Annotated[TorchScriptSource, Tag("torchscript")],
        Annotated[OnnxSource, Tag("onnx")],
    ],
    Discriminator(
        _source_kind,
        custom_error_type="source_kind",
        custom_error_message="source needs one of: callable (module:function), checkpoint + class, torchscript, onnx",
    ),
]


class TorchScriptOptions(_Strict):
    method: Literal["trace", "script"] = "trace"


class OnnxOptions(_Strict):
    opset: int = Field(default=17, ge=7, le=23)
    exporter: Literal["torchscript", "dynamo"] = "torchscript"


class TensorRTOptions(_Strict):
    precision: Literal["fp32", "fp16", "int8"] = "fp32"
    workspace_mb: int = Field(default=1024, ge=16)
    compute_capabilities: list[str] = Field(
        default=[], description="GPU generations to list in cc_model_filenames, e.g. ['8.0', '9.0']"
    )

    @field_validator("compute_capabilities")
    @classmethod
    def _cc(cls, v: list[str]) -> list[str]:
        bad = [c for c in v if not re.match(r"^\d+\.\d+$", c)]
        if bad:
            raise ValueError(f"{bad}: compute capabilities are written like '8.6' or '9.0'")
        return v


class OrtTensorRTAccelerator(_Strict):
    """ONNX Runtime's TensorRT execution provider inside the onnxruntime backend (GPU only)."""

    precision: Literal["fp32", "fp16"] = "fp16"
    workspace_mb: int = Field(default=1024, ge=16)
    engine_cache: bool = True


class QueuePolicy(_Strict):
    timeout_action: Literal["reject", "delay"] = "reject"
    default_timeout_microseconds: int = Field(default=0, ge=0)
    allow_timeout_override: bool = False
    max_queue_size: int = Field(default=0, ge=0)


class DynamicBatching(_Strict):
    preferred_batch_size: list[int] = []
    max_queue_delay_microseconds: int = Field(default=100, ge=0)
    preserve_ordering: bool = False
    default_queue_policy: Optional[QueuePolicy] = None


class InstanceGroup(_Strict):
    count: int = Field(default=1, ge=1)
    kind: Literal["auto", "cpu", "gpu"] = "auto"
    gpus: list[int] = []


class VersionPolicy(_Strict):
    latest: Optional[int] = Field(default=None, ge=1)
    all: Optional[bool] = None
    specific: Optional[list[int]] = None

    @model_validator(mode="after")
    def _one_of(self) -> "VersionPolicy":
        chosen = [k for k in ("latest", "all", "specific") if getattr(self, k) not in (None, False)]
        if len(chosen) != 1:
            raise ValueError("give exactly one of latest: N, all: true, specific: [versions]")
        return self


class Warmup(_Strict):
    batch_sizes: list[int] = [1]
    count: int = Field(default=1, ge=1)


class Tolerance(_Strict):
    atol: float = Field(ge=0)
    rtol: float = Field(ge=0)


# Default parity tolerances per output dtype.
DEFAULT_TOLERANCES = {
    "float32": Tolerance(atol=1e-4, rtol=1e-3),
    "float64": Tolerance(atol=1e-7, rtol=1e-6),
    "float16": Tolerance(atol=1e-2, rtol=1e-2),
    "bfloat16": Tolerance(atol=5e-2, rtol=5e-2),
}
EXACT = Tolerance(atol=0, rtol=0)


# Reduced-precision variants of the ONNX export (docs/precision.md). Each is published as its own
# Triton model, `<name>_<suffix>`, so FP32 and INT8 serve side by side and a client routes by name.
VARIANT_SUFFIX = {"int8_static": "int8", "int8_dynamic": "int8_dynamic", "fp16": "fp16"}
GATE_DEFAULTS = {"top1": 0.99, "cosine": 0.99, "rel_error": 0.05}


class AccuracyGate(_Strict):
    """The task metric a variant must meet against the FP32 ONNX model; none given: top1 for a
    classifier (first output one vector of scores per sample), else cosine (tritonctl.precision.gate)."""

    top1: Optional[float] = Field(default=None, gt=0, le=1, description="minimum top-1 agreement with FP32")
    cosine: Optional[float] = Field(default=None, gt=-1, le=1, description="minimum mean cosine similarity")
    rel_error: Optional[float] = Field(default=None, gt=0, description="maximum relative error ||q - f|| / ||f||")

    @model_validator(mode="after")
    def _one(self) -> "AccuracyGate":
        given = [k for k in GATE_DEFAULTS if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one metric per gate, got {given}: top1, cosine or rel_error")
        return self


class PrecisionVariant(_Strict):
    type: Literal["int8_static", "int8_dynamic", "fp16"]
    name: Optional[str] = Field(default=None, description="suffix of the published name; default by type")
    per_channel: bool = Field(default=True, description="int8: one scale per output channel of each weight")
    calibrate_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    exclude_nodes: list[str] = Field(default=[], description="ONNX node names kept in FP32")
    gate: AccuracyGate = AccuracyGate()

    @field_validator("name")
    @classmethod
    def _suffix(cls, v: Optional[str]) -> Optional[str]:
        if v is not None and not re.match(r"^[A-Za-z0-9_.-]+$", v):
            raise ValueError(f"'{v}' is not a valid name suffix: letters, digits, _ . - only")
        return v

    @property
    def suffix(self) -> str:
        return self.name or VARIANT_SUFFIX[self.type]


class Precision(_Strict):
    calibration: Optional[Path] = Field(default=None, description=".npz (one array per input) or .npy (one input)")
    evaluation: Optional[Path] = Field(default=None, description="the gate's data; default: the calibration set")
    samples: int = Field(default=64, ge=1, le=100_000, description="samples drawn when no calibration file is given")
    variants: list[PrecisionVariant] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> "Precision":
        suffixes = [v.suffix for v in self.variants]
        dup = sorted({s for s in suffixes if suffixes.count(s) > 1})
        if dup:
            raise ValueError(f"variants publish the name suffix {dup} twice: give each a distinct `name:`")
        return self


class EnsembleStep(_Strict):
    model: str
    version: int = -1
    inputs: dict[str, str] = Field(description="step model's input name -> ensemble tensor name")
    outputs: dict[str, str] = Field(description="step model's output name -> ensemble tensor name")


class ModelSpec(_Strict):
    name: str
    kind: Literal["pytorch", "python", "ensemble"] = "pytorch"
    description: str = ""
    source: Optional[Source] = None
    python: Optional[Path] = Field(default=None, description="model.py of a Python-backend model")
    requirements: list[str] = Field(
        default=[], description="pip requirements a python model imports; vendored into its version directory"
    )
    files: list[Path] = Field(default=[], description="kind: python: files/directories copied beside model.py")
    steps: list[EnsembleStep] = []
    inputs: list[TensorSpec]
    outputs: list[TensorSpec] = []
    max_batch_size: int = Field(default=8, ge=0)
    formats: list[Format] = ["onnx"]
    serve: Optional[Format] = None
    torchscript: TorchScriptOptions = TorchScriptOptions()
    onnx: OnnxOptions = OnnxOptions()
    tensorrt: TensorRTOptions = TensorRTOptions()
    ort_tensorrt: Optional[OrtTensorRTAccelerator] = None
    dynamic_batching: Union[bool, DynamicBatching] = True
    instance_groups: list[InstanceGroup] = [InstanceGroup()]
    version_policy: VersionPolicy = VersionPolicy(latest=1)
    labels: Optional[Path] = None
    warmup: Union[bool, Warmup] = False
    tolerance: Optional[Tolerance] = None
    parameters: dict[str, str] = {}
    precision: Optional[Precision] = None

    @field_validator("name")
    @classmethod
    def _model_name(cls, v: str) -> str:
        if not MODEL_NAME.match(v):
            raise ValueError(f"'{v}' is not a valid model name: letters, digits, _ . - only")
        return v

    @field_validator("source", mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        # `source: pkg.mod:fn` is shorthand for `source: {callable: pkg.mod:fn}`.
        if isinstance(v, str):
            return {"callable": v}
        return v

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError(f"list at least one format: {', '.join(exporters.FORMATS)}")
        if len(set(v)) != len(v):
            raise ValueError(f"{v} lists a format twice")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "ModelSpec":
        if self.kind == "pytorch" and self.source is None:
            raise ValueError("a pytorch model needs `source` (module:function, checkpoint, torchscript or onnx)")
        if self.kind == "python" and self.python is None:
            raise ValueError("a python model needs `python: path/to/model.py`")
        if self.requirements and self.kind != "python":
            raise ValueError("`requirements` are for python models (a pytorch model's imports run at build time only)")
        if self.files and self.kind != "python":
            raise ValueError("`files` travel with python models only (kind: python)")
        if self.kind == "ensemble" and not self.steps:
            raise ValueError("an ensemble needs `steps`")
        if self.kind != "pytorch":
            self.formats = []
        if self.kind != "pytorch" and not self.outputs:
            raise ValueError(f"a {self.kind} model must declare its outputs")
        if self.serve is None and self.formats:
            self.serve = self.formats[0]
        if self.serve is not None and self.serve not in self.formats:
            raise ValueError(f"serve: {self.serve} is not among formats {self.formats}")
        if "tensorrt" in self.formats and self.tensorrt.precision == "int8":
            # refused here, not on the GPU that builds the plan: a user learns it before any export
            raise ValueError("tensorrt.precision int8 is not built by tritonctl (TensorRT calibrates on the GPU, "
                             "untested here); use fp16, and serve INT8 from the ONNX export with "
                             "precision: {variants: [{type: int8_static}]} (docs/precision.md)")
        if self.precision is not None and "onnx" not in self.formats:
            raise ValueError("precision variants are made from the ONNX export: add onnx to formats")
        if isinstance(self.source, OnnxSource) and "torchscript" in self.formats:
            raise ValueError("an ONNX source cannot be exported to torchscript: use formats: [onnx]")
        if any(t.dtype == "string" for t in self.inputs + self.outputs) and self.kind == "pytorch":
            raise ValueError("string tensors are only for python and ensemble models")
        if self.max_batch_size == 0 and self.dynamic_batching not in (False,):
            self.dynamic_batching = False
        if isinstance(self.dynamic_batching, DynamicBatching):
            too_big = [b for b in self.dynamic_batching.preferred_batch_size if b > self.max_batch_size]
            if too_big:
                raise ValueError(
                    f"dynamic_batching.preferred_batch_size {too_big} exceeds max_batch_size {self.max_batch_size}"
                )
        if isinstance(self.warmup, Warmup) and any(b > max(self.max_batch_size, 1) for b in self.warmup.batch_sizes):
            raise ValueError(f"warmup.batch_sizes must be <= max_batch_size {self.max_batch_size}")
        names = [t.name for t in self.inputs + self.outputs]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"tensor names must be unique, {sorted(dup)} repeat")
        return self

    def tolerance_for(self, dtype: str) -> Tolerance:
        if self.tolerance is not None:
            return self.tolerance
        return DEFAULT_TOLERANCES.get(dtype, EXACT)

    def served_name(self, fmt: str) -> str:
        """The format in `serve` is published under the model's name; others as `<name>_<format>`."""
        return self.name if fmt == self.serve else f"{self.name}_{fmt}"

    def variant_name(self, variant: PrecisionVariant) -> str:
        """A precision variant is its own Triton model, `<name>_<suffix>` (e.g. digits_int8)."""
        return f"{self.name}_{variant.suffix}"

    @property
    def variants(self) -> list[PrecisionVariant]:
        return self.precision.variants if self.precision else []

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 0


class Spec(_Strict):
    """The whole models.yaml file."""

    repository: Path = Path("model_repository")
    models: list[ModelSpec]
    # Set by load(): where relative paths and `module:function` imports are resolved from.
    base_dir: Path = Field(default=Path("."), exclude=True)
    path: Path = Field(default=Path("models.yaml"), exclude=True)

    @model_validator(mode="after")
    def _unique_and_linked(self) -> "Spec":
        served: dict[str, str] = {}
        for m in self.models:
            for name in ([m.served_name(f) for f in m.formats] or [m.name]) + [m.variant_name(v) for v in m.variants]:
                if name in served:
                    raise ValueError(f"models '{served[name]}' and '{m.name}' both publish a model named '{name}'")
                served[name] = m.name
        for m in self.models:
            for i, step in enumerate(m.steps):
                if step.model not in served:
                    raise ValueError(
                        f"model '{m.name}': steps[{i}].model '{step.model}' is not a model in this file; "
                        f"known: {sorted(served)}"
                    )
        return self

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name:
                return m
        raise SpecError(f"{self.path}: no model named '{name}'; known: {[m.name for m in self.models]}")

    def resolve(self, p: Path) -> Path:
        return p if p.is_absolute() else (self.base_dir / p)


# pydantic puts the chosen union member into the error path; a user wants the field path only.
_UNIONS = {"source", "dynamic_batching", "warmup"}
_UNION_TAGS = {"callable", "checkpoint", "torchscript", "onnx", "bool", "DynamicBatching", "Warmup"}


def _describe(err: dict, raw: dict) -> str:
    """Turn one pydantic error into 'model <name>: <field.path>: <message>'."""
    loc = list(err["loc"])
    where = ""
    if len(loc) >= 2 and loc[0] == "models" and isinstance(loc[1], int):
        idx = loc[1]
        models = raw.get("models") or []
        name = models[idx].get("name") if idx < len(models) and isinstance(models[idx], dict) else None
        where = f"model '{name}'" if name else f"models[{idx}]"
        loc = loc[2:]
    # Drop pydantic's union-branch tags (e.g. 'CallableSource') from the field path.
    field = ".".join(str(p) for i, p in enumerate(loc) if not (i and p in _UNION_TAGS and loc[i - 1] in _UNIONS))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field; remove it or fix its spelling (see docs/models-yaml.md)"
    elif err["type"] == "literal_error":
        msg = f"{msg} (got {err.get('input')!r})"
    return ": ".join(p for p in (where, field, msg) if p)


def load(path: str | Path) -> Spec:
    """Read and validate models.yaml; raise SpecError naming file, model and field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file; pass the path to your models.yaml") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or "models" not in raw:
        raise SpecError(f"{path}: expected a mapping with a `models:` list at the top level")
    try:
        spec = Spec.model_validate(raw)
    except ValidationError as exc:
        # One error per line; the first is the one the CLI leads with.
        lines = [_describe(e, raw) for e in exc.errors()]
        raise SpecError(f"{path}: " + "\n  ".join(dict.fromkeys(lines))) from None
    spec.base_dir = path.resolve().parent
    spec.path = path
    return spec
