"""Reduced-precision variants of a model's ONNX export, proven on a task metric before publishing.

models.yaml's `precision:` (docs/precision.md) asks for INT8 (dynamic, or static QDQ calibrated
on data) and FP16 variants. Each is built from the FP32 ONNX file with onnxruntime's own tools
(``onnxruntime.quantization``, ``onnxruntime.transformers.float16``), compared with that FP32
model on an evaluation set by its gate (top-1 agreement, cosine similarity or relative error)
and published as its own Triton model ``<name>_<suffix>`` only when it meets the gate.

Modules: ``calibration`` (where the samples come from), ``convert`` (the conversions),
``gate`` (the metric and its error), ``stage`` (what ``tritonctl build`` calls); the benchmark
is benchmarks/precision.py (``make bench-precision``). Nothing heavy is imported here: config.py
imports this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tritonctl.spec import ModelSpec, PrecisionVariant

#: what a variant's config.pbtxt description says it is
DESCRIPTIONS = {
    "int8_static": "INT8 static (QDQ, calibrated)",
    "int8_dynamic": "INT8 dynamic (weights int8, activations quantized at run time)",
    "fp16": "FP16 (inputs and outputs stay float32)",
}


def variant_config(m: ModelSpec, v: PrecisionVariant):
    """The variant's ModelConfig: the FP32 ONNX model's, renamed. Every conversion keeps the graph's
    input and output names and dtypes (FP16 keeps float32 I/O), so clients call both the same way."""
    from tritonctl import config

    cfg = config.model_config(m, "onnx")
    cfg.name = m.variant_name(v)
    base = m.served_name("onnx")
    cfg.parameters["description"].string_value = f"{DESCRIPTIONS[v.type]} variant of {base}" + (
        f": {m.description}" if m.description else "")
    return cfg
