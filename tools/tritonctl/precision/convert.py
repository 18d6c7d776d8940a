"""FP32 ONNX -> one reduced-precision variant, with onnxruntime's own tools.

INT8 models are first run through ``quant_pre_process`` (symbolic shape inference and
onnxruntime's graph optimisations): without it the torchscript exporter's shared biases stay
behind Identity nodes, onnxruntime cannot fold Conv+QDQ into QLinearConv, and static INT8
resnet18 ran at 0.5x FP32 instead of 3x on the 2-core VM.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tritonctl.errors import ExportError
from tritonctl.spec import ModelSpec, PrecisionVariant

_METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


def convert(fp32: Path, out: Path, m: ModelSpec, v: PrecisionVariant, calibration: list[np.ndarray]) -> None:
    """Write the variant of ``fp32`` that ``v`` asks for to ``out`` (scratch files beside it)."""
    from tritonctl.precision.calibration import Reader

    try:
        if v.type == "fp16":
            import onnx
            from onnxruntime.transformers.float16 import convert_float_to_float16

            model = convert_float_to_float16(onnx.load(str(fp32)), keep_io_types=True,
                                             node_block_list=v.exclude_nodes or None)
            onnx.save(model, str(out))
            return
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        pre = out.with_name(out.stem + ".pre.onnx")
        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # the tools log advice (pre-processing) as root WARNINGs
        try:
            quant_pre_process(str(fp32), str(pre))
            if v.type == "int8_dynamic":
                quantize_dynamic(str(pre), str(out), weight_type=QuantType.QInt8, per_channel=v.per_channel,
                                 nodes_to_exclude=v.exclude_nodes)
            else:
                # uint8 activations with int8 weights: the pairing onnxruntime's x86 kernels run fastest
                # (its quantization guide; int8 x int8 may saturate on AVX2 without VNNI)
                quantize_static(str(pre), str(out), Reader(m, calibration), quant_format=QuantFormat.QDQ,
                                per_channel=v.per_channel, activation_type=QuantType.QUInt8,
                                weight_type=QuantType.QInt8, nodes_to_exclude=v.exclude_nodes,
                                calibrate_method=getattr(CalibrationMethod, _METHODS[v.calibrate_method]))
        finally:
            logging.getLogger().setLevel(quiet)
            pre.unlink(missing_ok=True)
        drop_unused_opsets(out)
    except ExportError:
        raise
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        raise ExportError(f"model '{m.name}': the {v.type} conversion of {fp32.name} failed ({type(exc).__name__}: "
                          f"{first}); try exclude_nodes for the node it names, or another variant type") from exc


def drop_unused_opsets(path: Path) -> None:
    """Keep only the opset imports the graph's nodes use, those inside If/Loop/Scan subgraphs
    included. onnxruntime's optimizer (in quant_pre_process) imports every domain it knows,
    ai.onnx.ml 5 among them, and an older Triton's onnxruntime refuses an opset it does not know
    even when no node uses it (`tritonctl check --triton-release 24.04` flags such a variant)."""
    import onnx

    model = onnx.load(str(path))
    used: set[str] = set()

    def walk(graph) -> None:
        for n in graph.node:
            used.add(n.domain or "")
            for attr in n.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for g in attr.graphs:
                        walk(g)

    walk(model.graph)
    keep = [o for o in model.opset_import if (o.domain or "") in used or (o.domain or "") in ("", "ai.onnx")]
    if len(keep) != len(model.opset_import):
        del model.opset_import[:]
        model.opset_import.extend(keep)
        onnx.save(model, str(path))


def session(path: Path, threads: int = 0):
    """An onnxruntime CPU session (``threads`` 0: onnxruntime's default)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def weighted_nodes(path: Path) -> list[str]:
    """Names of the Conv / Gemm / MatMul nodes, in graph order: the candidates for exclude_nodes."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type in ("Conv", "Gemm", "MatMul") and n.name]
