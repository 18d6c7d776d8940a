"""Reduced-precision variants of a model's ONNX export, proven on a task metric before publishing.

models.yaml's `precision:` (docs/precision.md) asks for INT8 (dynamic, or static QDQ calibrated
on data) and FP16 variants. Each is built from the FP32 ONNX file with onnxruntime's own tools
(``onnxruntime.quantization``, ``onnxruntime.transformers.float16``), compared with that FP32
model on an evaluation set by its gate (top-1 agreement, cosine similarity or relative error)
and published as its own Triton model ``<name>_<suffix>`` only when it meets the gate.

Modules: ``calibration`` (where the samples come from), ``convert`` (the conversions),
``gate`` (the metric and its error), ``stage`` (what ``tritonctl build`` calls); the benchmark
is benchmarks/precision.py (``make bench-precision``). A variant's config.pbtxt is
``config.variant_config``, beside every other config models.yaml generates.
"""
