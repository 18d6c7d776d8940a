"""The parity gate: every exported artifact against eager PyTorch, on fresh random inputs.

Cases: batch sizes 1, 2 and max_batch_size, each at the min, opt and max of every dynamic dim.
Pass rule per output: numpy.allclose(exported, eager, atol, rtol) (|a-b| <= atol + rtol*|b|);
the report keeps the largest absolute and relative difference over all cases.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np

from tritonctl.errors import ExportError, ShapeError, ToleranceError
# Runner: what every exporter unit returns; torch_runner: the eager reference (build makes it here)
from tritonctl.exporters.runners import Runner, torch_runner  # noqa: F401
from tritonctl.spec import ModelSpec, TensorSpec
from tritonctl.wire.inputs import DEFAULT_INT_VALUES, random_array


@dataclass
class OutputParity:
    name: str
    max_abs: float = 0.0
    max_rel: float = 0.0
    atol: float = 0.0
    rtol: float = 0.0
    ok: bool = True
    worst_case: str = ""

@dataclass
class FormatParity:
    model: str
    format: str
    cases: list[str] = field(default_factory=list)
    outputs: list[OutputParity] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outputs)

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def cases(m: ModelSpec) -> list[tuple[int, int]]:
    """(batch size, dynamic-dim setting index) pairs; batch 0 means the model has no batch dim."""
    batches = sorted({1, 2, m.max_batch_size} & set(range(1, m.max_batch_size + 1))) if m.batching else [0]
    settings = range(3) if any(t.dynamic for t in m.inputs) else range(1)
    return [(b, s) for b in batches for s in settings]


def sample_shape(t, batch: int, setting: int) -> list[int]:
    shape = [d if d != -1 else t.dim_values(i)[min(setting, len(t.dim_values(i)) - 1)] for i, d in enumerate(t.shape)]
    return ([batch] if batch else []) + shape


def random_inputs(m: ModelSpec, batch: int, setting: int, rng: np.random.Generator) -> list[np.ndarray]:
    # numpy has no bfloat16: eager PyTorch and the exports take float32 for it
    return [random_array("float32" if t.dtype == "bfloat16" else t.dtype, sample_shape(t, batch, setting), rng, t.values)
            for t in m.inputs]


def int_values(t: TensorSpec) -> tuple[int, int]:
    """[low, high) an integer input's random values are drawn from: its `values:`, else the default."""
    low, high = t.values or DEFAULT_INT_VALUES
    return int(low), int(high)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _runs(eager: Runner, inputs: list[np.ndarray]) -> bool:
    try:
        eager(inputs)
    except Exception:
        return False
    return True


def _with(inputs: list[np.ndarray], i: int, array: np.ndarray) -> list[np.ndarray]:
    return inputs[:i] + [array] + inputs[i + 1 :]


def _failing_embedding(module, eager: Runner, inputs: list[np.ndarray]):
    """(name, nn.Embedding) the inputs fail in (the last one entered), or None."""
    import torch

    if module is None or isinstance(module, torch.jit.ScriptModule):
        return None  # a TorchScript module takes no hooks
    entered: list = []
    hooks = [
        sub.register_forward_pre_hook(lambda mod, args, name=name: entered.append((name, mod)))
        for name, sub in module.named_modules()
        if isinstance(sub, torch.nn.Embedding)
    ]
    try:
        _runs(eager, inputs)
    finally:
        for h in hooks:
            h.remove()
    return entered[-1] if entered else None


def _other_dtypes(declared: str) -> list[str]:
    """The dtypes to try instead of the declared one: its own kind first (float64 -> float32 before
    int64, since an integer tensor may be promoted where a float64 one is refused), the common first."""
    common = ["float32", "float64", "float16"], ["int64", "int32"]
    same, other = common if declared.startswith("float") or declared == "bfloat16" else common[::-1]
    return [d for d in same + other + ["bool"] if d != declared]


def explain_eager_failure(m: ModelSpec, eager: Runner, inputs: list[np.ndarray], exc: Exception, module=None) -> ExportError:
    """Why eager PyTorch fails on random inputs drawn from the declared ones, as one line naming
    the input and the models.yaml field to fix: integer ids out of range (`values:`), a declared
    dtype the model does not take (`dtype:`), else the declared inputs in general. Each cause is
    proven by running the model again with that one input replaced by zeros (of its own dtype,
    then of another), never guessed from the error text."""
    cause = f"{type(exc).__name__}: {_first_line(exc)}"
    for i, t in enumerate(m.inputs):
        if t.dtype in ("bool", "bfloat16") or t.dtype.startswith("float"):
            continue
        if _runs(eager, _with(inputs, i, np.zeros_like(inputs[i]))):
            low, high = int_values(t)
            drawn = (
                f"drawn from its values: [{low}, {high})" if t.values
                else f"drawn from [{low}, {high}) (the default of an integer input without values:)"
            )
            fix = f"set inputs.{t.name}.values: [low, high) in models.yaml to the ids the model takes"
            where = ""
            found = _failing_embedding(module, eager, inputs)
            if found:
                name, emb = found
                where = f"; they index {name or 'the model'} = {emb} (valid ids 0..{emb.num_embeddings - 1})"
                fix = f"set inputs.{t.name}.values: [0, {emb.num_embeddings}] in models.yaml (low included, high excluded)"
            return ExportError(
                f"model '{m.name}': input '{t.name}' holds ids out of range for the model ({cause}): the parity "
                f"gate's random ids were {drawn}{where}; fix: {fix}"
            )
    for i, t in enumerate(m.inputs):
        for dtype in _other_dtypes(t.dtype):
            if _runs(eager, _with(inputs, i, np.zeros(inputs[i].shape, dtype=dtype))):
                return ExportError(
                    f"model '{m.name}': inputs.{t.name}.dtype is {t.dtype} but the model takes {dtype} there "
                    f"({cause}); fix: set inputs.{t.name}.dtype: {dtype} in models.yaml"
                )
    shapes = ", ".join(f"{t.name} {t.dtype} {list(a.shape)}" for t, a in zip(m.inputs, inputs))
    return ExportError(
        f"model '{m.name}': eager PyTorch fails on random inputs as models.yaml declares them ({shapes}) "
        f"({cause}); fix inputs (names, order, dtype, shape, values) in models.yaml or the model"
    )


def eager_outputs(m: ModelSpec, eager: Runner, inputs: list[np.ndarray], module=None) -> list[np.ndarray]:
    """``eager(inputs)``; a failure is explained by ``explain_eager_failure``."""
    try:
        return eager(inputs)
    except Exception as exc:
        raise explain_eager_failure(m, eager, inputs, exc, module) from exc


def _compare(report: OutputParity, got: np.ndarray, want: np.ndarray, case: str) -> None:
    got64, want64 = got.astype(np.float64), want.astype(np.float64)
    diff = np.abs(got64 - want64)
    if diff.size == 0:
        return
    abs_err = float(np.nanmax(diff))
    scale = np.abs(want64)
    # Relative error only where the reference is not ~0, else it explodes meaninglessly.
    mask = scale > max(report.atol, 1e-12)
    rel_err = float(np.max(diff[mask] / scale[mask])) if mask.any() else 0.0
    close = np.allclose(got64, want64, atol=report.atol, rtol=report.rtol, equal_nan=True)
    if abs_err >= report.max_abs:
        report.worst_case = case
    report.max_abs = max(report.max_abs, abs_err)
    report.max_rel = max(report.max_rel, rel_err)
    report.ok = report.ok and bool(close)


def check_declared_shapes(m: ModelSpec, outputs: Sequence[np.ndarray], batch: int) -> None:
    """The eager model's real outputs must match the outputs declared in models.yaml."""
    if len(outputs) != len(m.outputs):
        raise ShapeError(
            f"model '{m.name}': outputs declares {len(m.outputs)} tensor(s) but the model returns {len(outputs)}; "
            "fix outputs in models.yaml"
        )
    for t, o in zip(m.outputs, outputs):
        declared = ([batch] if batch else []) + t.shape
        actual = list(o.shape)
        if len(actual) != len(declared) or any(d != -1 and d != a for d, a in zip(declared, actual)):
            shown = [d for d in actual[1:]] if batch else actual
            raise ShapeError(
                f"model '{m.name}': outputs.{t.name}.shape is {t.shape} but the model returns {shown} per sample; "
                f"fix outputs.{t.name}.shape in models.yaml"
            )
        if str(o.dtype) != t.dtype and t.dtype != "bfloat16":
            raise ShapeError(
                f"model '{m.name}': outputs.{t.name}.dtype is {t.dtype} but the model returns {o.dtype}; "
                f"fix outputs.{t.name}.dtype in models.yaml"
            )


def run(m: ModelSpec, eager: Runner, exported: dict[str, Runner], seed: int = 0, module=None) -> list[FormatParity]:
    """Run every case through eager and every exported runner; return one report per format.
    ``module``: the eager nn.Module behind ``eager``, to name the embedding bad ids fail in."""
    rng = np.random.default_rng(seed)
    reports = {
        fmt: FormatParity(
            m.name,
            fmt,
            outputs=[
                OutputParity(t.name, atol=m.tolerance_for(t.dtype).atol, rtol=m.tolerance_for(t.dtype).rtol)
                for t in m.outputs
            ],
        )
        for fmt in exported
    }
    for batch, setting in cases(m):
        inputs = random_inputs(m, batch, setting, rng)
        case = f"batch {batch or '-'}, shapes {[list(a.shape) for a in inputs]}"
        want = eager_outputs(m, eager, inputs, module)
        check_declared_shapes(m, want, batch)
        for fmt, runner in exported.items():
            reports[fmt].cases.append(case)
            try:
                got = runner(inputs)
            except Exception as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise ToleranceError(
                    f"model '{m.name}': the {fmt} export fails on {case} where eager PyTorch works "
                    f"({type(exc).__name__}: {first}); nothing was published; try {_hint(fmt)}"
                ) from exc
            for out, g, w in zip(reports[fmt].outputs, got, want):
                if list(g.shape) != list(w.shape):
                    raise ShapeError(
                        f"model '{m.name}': {fmt} output '{out.name}' has shape {list(g.shape)} but eager PyTorch "
                        f"gives {list(w.shape)} on {case}; fix the export (dynamic dims) or the model"
                    )
                _compare(out, g, w, case)
    for rep in reports.values():
        for out in rep.outputs:
            if not out.ok:
                raise ToleranceError(
                    f"model '{m.name}': {rep.format} output '{out.name}' differs from eager PyTorch: "
                    f"max abs {out.max_abs:.3g}, max rel {out.max_rel:.3g} (atol {out.atol:g}, rtol {out.rtol:g}) "
                    f"at {out.worst_case}; nothing was published; try {_hint(rep.format)}"
                )
    return list(reports.values())


def _hint(fmt: str) -> str:
    if fmt == "torchscript":
        return "torchscript: {method: script} (tracing records one control-flow path and fixed shapes)"
    return "another onnx exporter or opset, dynamic dims (shape -1 with a range), or a tolerance override if this is numerical noise"
