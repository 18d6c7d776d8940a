"""The accuracy gate: a variant against the FP32 ONNX model on the evaluation set, by a task metric.

* ``top1``: the share of samples whose argmax over the first output's scores is the same
  (a classifier: the answer a user sees). Default threshold 0.99.
* ``cosine``: cosine similarity of each sample's outputs (every output, flattened), averaged
  over samples. Default 0.99.
* ``rel_error``: ||variant - fp32|| / ||fp32|| over the whole set, the worst output. Default 0.05.

With no metric named, a model whose first output is one float vector of 2+ scores per sample is
graded by top1, every other model by cosine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from tritonctl.errors import ParityError
from tritonctl.spec import GATE_DEFAULTS, ModelSpec, PrecisionVariant


class PrecisionGateError(ParityError):
    """A reduced-precision variant missed its accuracy gate; nothing was published."""


@dataclass
class GateResult:
    variant: str
    metric: str
    value: float
    threshold: float
    samples: int
    min_cosine: float | None = None

    @property
    def ok(self) -> bool:
        if self.metric == "rel_error":
            return self.value <= self.threshold
        return self.value >= self.threshold

    def summary(self) -> str:
        op = "<=" if self.metric == "rel_error" else ">="
        return f"{self.metric} {self.value:.4f} {op} {self.threshold:g} (n={self.samples})"

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def default_metric(m: ModelSpec) -> str:
    first = m.outputs[0] if m.outputs else None
    classifier = first is not None and first.dtype.startswith("float") and len(first.shape) == 1 and first.shape[0] >= 2
    return "top1" if classifier else "cosine"


def metric_of(m: ModelSpec, v: PrecisionVariant) -> tuple[str, float]:
    for k in GATE_DEFAULTS:
        if getattr(v.gate, k) is not None:
            return k, float(getattr(v.gate, k))
    k = default_metric(m)
    return k, GATE_DEFAULTS[k]


def measure(metric: str, fp32: list[np.ndarray], got: list[np.ndarray]) -> tuple[float, float | None]:
    """(the metric's figure, the smallest per-sample cosine when the metric is cosine). ``fp32`` and
    ``got``: each output's values over the whole evaluation set, samples first."""
    if metric == "top1":
        return float(np.mean(fp32[0].argmax(-1) == got[0].argmax(-1))), None
    if metric == "rel_error":
        return max(float(np.linalg.norm(g.astype(np.float64) - f) / max(np.linalg.norm(f.astype(np.float64)), 1e-30))
                   for f, g in zip(fp32, got)), None
    n = len(fp32[0])
    f = np.concatenate([a.reshape(n, -1).astype(np.float64) for a in fp32], axis=1)
    g = np.concatenate([a.reshape(n, -1).astype(np.float64) for a in got], axis=1)
    denom = np.maximum(np.linalg.norm(f, axis=1) * np.linalg.norm(g, axis=1), 1e-30)
    cos = (f * g).sum(axis=1) / denom
    return float(cos.mean()), float(cos.min())


def outputs(m: ModelSpec, runner, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Each output over the whole set: the runner called on the set's batches, concatenated."""
    from tritonctl.precision.calibration import batches

    parts = [runner(b) for b in batches(m, arrays)]
    if not m.batching:
        return [np.stack(o) for o in zip(*parts)]
    return [np.concatenate(o) for o in zip(*parts)]


def hint(v: PrecisionVariant, nodes: list[str]) -> str:
    ends = f" (e.g. the first and last weighted nodes: {list(dict.fromkeys([nodes[0], nodes[-1]]))})" if nodes else ""
    exclude = f"exclude_nodes to keep the sensitive nodes in FP32{ends}"
    if v.type == "int8_static":
        tries = ([] if v.per_channel else ["per_channel: true"]) + [
            exclude, "more and real calibration data (precision.calibration: samples.npz)",
            "calibrate_method: entropy or percentile", "an fp16 variant"]
    elif v.type == "int8_dynamic":
        tries = ([] if v.per_channel else ["per_channel: true"]) + [
            exclude, "int8_static with real calibration data", "an fp16 variant"]
    else:
        tries = [exclude, "a lower threshold only if the task allows it"]
    return "; ".join(tries)


def check(m: ModelSpec, v: PrecisionVariant, result: GateResult, nodes: list[str]) -> None:
    if result.ok:
        return
    op = "at most" if result.metric == "rel_error" else "at least"
    raise PrecisionGateError(
        f"model '{m.name}': variant {m.variant_name(v)} ({v.type}) missed its accuracy gate: {result.metric} "
        f"{result.value:.4f} over {result.samples} evaluation samples, needs {op} {result.threshold:g} "
        f"(precision.variants[{m.variants.index(v)}].gate.{result.metric}); nothing was published; "
        f"try {hint(v, nodes)}")
