"""The one data-type table: every name a tensor type has on the way from models.yaml to the wire.

One row per Triton data type, with its name in each place tritonctl meets it:

=============  ===============  ========  ==========  =============  ===================
models.yaml    config.pbtxt     wire      numpy       ONNX           onnxruntime
=============  ===============  ========  ==========  =============  ===================
float32        TYPE_FP32        FP32      float32     FLOAT          tensor(float)
string         TYPE_STRING      BYTES     object      STRING         tensor(string)
=============  ===============  ========  ==========  =============  ===================

(and so on below). numpy has no bfloat16: ``numpy_dtype("TYPE_BF16")`` is None. The spec lists
the types an exported PyTorch model can declare; the unsigned types wider than 8 bits have no
torch dtype, so models.yaml does not offer them.

Stdlib only (numpy is imported when a numpy dtype is asked for): the CPU backends import this
module inside Triton's Python stub (``server.distribution.server_env`` puts the tritonctl
package on the stub's PYTHONPATH), and models.yaml validation must stay cheap. The load test and
the chart's smoke test read the same table from their generated ``triton_wire.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataType:
    triton: str  # model_config.proto DataType name (config.pbtxt)
    wire: str  # the datatype string of the inference protocol (HTTP/gRPC, tritonclient)
    spec: str | None  # models.yaml dtype (None: not offered there)
    numpy: str | None  # numpy dtype name (None: numpy has none); a name, so importing this is free
    onnx: str  # onnx.TensorProto element type name
    ort: str  # onnxruntime's NodeArg.type


TABLE: tuple[DataType, ...] = (
    DataType("TYPE_BOOL", "BOOL", "bool", "bool", "BOOL", "tensor(bool)"),
    DataType("TYPE_UINT8", "UINT8", "uint8", "uint8", "UINT8", "tensor(uint8)"),
    DataType("TYPE_UINT16", "UINT16", None, "uint16", "UINT16", "tensor(uint16)"),
    DataType("TYPE_UINT32", "UINT32", None, "uint32", "UINT32", "tensor(uint32)"),
    DataType("TYPE_UINT64", "UINT64", None, "uint64", "UINT64", "tensor(uint64)"),
    DataType("TYPE_INT8", "INT8", "int8", "int8", "INT8", "tensor(int8)"),
    DataType("TYPE_INT16", "INT16", "int16", "int16", "INT16", "tensor(int16)"),
    DataType("TYPE_INT32", "INT32", "int32", "int32", "INT32", "tensor(int32)"),
    DataType("TYPE_INT64", "INT64", "int64", "int64", "INT64", "tensor(int64)"),
    DataType("TYPE_FP16", "FP16", "float16", "float16", "FLOAT16", "tensor(float16)"),
    DataType("TYPE_BF16", "BF16", "bfloat16", None, "BFLOAT16", "tensor(bfloat16)"),
    DataType("TYPE_FP32", "FP32", "float32", "float32", "FLOAT", "tensor(float)"),
    DataType("TYPE_FP64", "FP64", "float64", "float64", "DOUBLE", "tensor(double)"),
    DataType("TYPE_STRING", "BYTES", "string", "object", "STRING", "tensor(string)"),
)

_BY_TRITON = {d.triton: d for d in TABLE}
_BY_WIRE = {d.wire: d for d in TABLE}

#: models.yaml dtype -> config.pbtxt data type
SPEC_TO_TRITON = {d.spec: d.triton for d in TABLE if d.spec}
#: onnx.TensorProto element type name -> config.pbtxt data type
ONNX_TO_TRITON = {d.onnx: d.triton for d in TABLE}
#: onnxruntime NodeArg.type -> config.pbtxt data type
ORT_TO_TRITON = {d.ort: d.triton for d in TABLE}
#: str(torch.dtype) -> models.yaml dtype: models.yaml names each type as torch does (torch.float32
#: -> float32); torch has no string tensors
TORCH_TO_SPEC = {f"torch.{d.spec}": d.spec for d in TABLE if d.spec and d.spec != "string"}


def lookup(data_type: str) -> DataType | None:
    """'TYPE_FP32', 'FP32', 'TYPE_STRING' or 'BYTES' (or 'STRING') -> its row; None when unknown."""
    if data_type in _BY_TRITON:
        return _BY_TRITON[data_type]
    if data_type == "STRING":
        return _BY_TRITON["TYPE_STRING"]
    return _BY_WIRE.get(data_type)


def wire_dtype(data_type: str) -> str:
    """'TYPE_FP32' or 'FP32' -> 'FP32'; 'TYPE_STRING' -> 'BYTES' (the name on the wire)."""
    row = lookup(data_type)
    if row is not None:
        return row.wire
    return data_type[5:] if data_type.startswith("TYPE_") else data_type


def numpy_dtype(data_type: str):
    """The numpy dtype of a Triton type (config or wire name); None when numpy has none or it is unknown."""
    row = lookup(data_type)
    if row is None or row.numpy is None:
        return None
    import numpy as np

    return np.dtype(row.numpy)
