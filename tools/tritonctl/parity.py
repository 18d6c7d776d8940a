"""The parity gate: every exported artifact against eager PyTorch, on fresh random inputs.

Cases: batch sizes 1, 2 and max_batch_size, each at the min, opt and max of every dynamic dim.
Pass rule per output: numpy.allclose(exported, eager, atol, rtol) (|a-b| <= atol + rtol*|b|);
the report keeps the largest absolute and relative difference over all cases.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np

from tritonctl.errors import ShapeError, ToleranceError
from tritonctl.spec import ModelSpec

# What every exporter unit returns (tritonctl.exporters): numpy inputs in, numpy outputs out.
Runner = Callable[[list[np.ndarray]], list[np.ndarray]]


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
    arrays = []
    for t in m.inputs:
        shape = sample_shape(t, batch, setting)
        if t.dtype.startswith("float"):
            a = rng.standard_normal(shape).astype("float32" if t.dtype == "bfloat16" else t.dtype)
        elif t.dtype == "bool":
            a = rng.integers(0, 2, shape).astype(bool)
        else:
            low, high = t.values or (0, 10)
            a = rng.integers(int(low), int(high), shape).astype(t.dtype)
        arrays.append(a)
    return arrays


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


def run(m: ModelSpec, eager: Runner, exported: dict[str, Runner], seed: int = 0) -> list[FormatParity]:
    """Run every case through eager and every exported runner; return one report per format."""
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
        want = eager(inputs)
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


def torch_runner(module) -> Runner:
    """Eager PyTorch, the reference every export is compared with (and TorchScript's own runner)."""
    import torch

    def call(inputs: list[np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            out = module(*[torch.from_numpy(a) for a in inputs])
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return [o.detach().cpu().numpy() for o in outs]

    return call
