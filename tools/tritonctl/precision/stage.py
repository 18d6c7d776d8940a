"""What `tritonctl build` calls for a model's precision variants: convert into staging, gate, record.

The FP32 reference is the ONNX file this build exported (already proven against eager PyTorch),
or the published one when the model itself is unchanged; the variant is graded against it, not
against eager PyTorch, because the question the gate answers is "does serving this variant
instead of the FP32 model change the answers?".
"""

from __future__ import annotations

from pathlib import Path

from tritonctl.precision import calibration, convert, gate
from tritonctl.spec import ModelSpec, PrecisionVariant, Spec


def build_variants(m: ModelSpec, todo: list[tuple[PrecisionVariant, Path]], fp32: Path, spec: Spec, progress) -> dict:
    """Convert and gate each (variant, staged model.onnx path); return {variant suffix: record
    fields}. Raises PrecisionGateError on the first variant below its gate (the build publishes nothing)."""
    calib, evaluation, about = calibration.samples(m, spec)
    reference = gate.outputs(m, _runner(m, fp32), evaluation)
    nodes = convert.weighted_nodes(fp32)
    records = {}
    for v, path in todo:
        progress(f"{m.variant_name(v)}: {v.type}")
        convert.convert(fp32, path, m, v, calib)
        metric, threshold = gate.metric_of(m, v)
        value, min_cos = gate.measure(metric, reference, gate.outputs(m, _runner(m, path), evaluation))
        result = gate.GateResult(m.variant_name(v), metric, value, threshold, len(evaluation[0]), min_cos)
        gate.check(m, v, result, nodes)
        records[v.suffix] = {"variant": v.model_dump(mode="json"), "gate": result.to_dict(), "data": about,
                             "reference": str(fp32.name)}
    return records


def _runner(m: ModelSpec, path: Path):
    session = convert.session(path)
    names = [t.name for t in m.inputs]
    return lambda inputs: session.run(None, dict(zip(names, inputs)))
