"""nn.Module (or an existing .onnx file) -> ONNX (model.onnx) with dynamic batch and per-tensor dims,
then onnx.checker; served by Triton's onnxruntime backend."""

from __future__ import annotations

import io
import shutil
import warnings
from contextlib import redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING

from tritonctl.errors import ExportError
from tritonctl.wire.dtypes import ONNX_TO_TRITON, SPEC_TO_TRITON

if TYPE_CHECKING:
    from tritonctl.exporters import ExportJob
    from tritonctl.exporters.runners import Runner
    from tritonctl.spec import ModelSpec

FORMAT = "onnx"
PLATFORM = "onnxruntime_onnx"
FILENAME = "model.onnx"


def onnx_dims(value_info) -> list[int | str | None] | None:
    """An ONNX graph input's or output's dims: an int when fixed, the symbol (str) or None when
    dynamic; None when the graph declares no shape (read here and by check's onnx rules)."""
    t = value_info.type.tensor_type
    if not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim]


def export(job: ExportJob) -> Runner:
    """Export (or copy an ONNX source) into job.path; the runner is onnxruntime on that file."""
    m = job.model
    source = job.onnx_source
    if source is not None:
        check_declared(source, m)  # before anything runs: a mismatch is no onnxruntime traceback
        copy(source, job.path, m)
    else:
        to_onnx(job.module, job.example, job.path, m)
    return onnx_runner(job.path, [t.name for t in m.inputs])


def onnx_runner(path: Path, input_names: list[str]) -> Runner:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def call(inputs):
        return session.run(None, dict(zip(input_names, inputs)))

    return call


def _dynamic_axes(m: ModelSpec) -> dict[str, dict[int, str]]:
    # One symbol for the batch dim of every tensor; every other dynamic dim gets its own symbol
    # (`<tensor>_dim<i>`): the graph leaves each free and does not declare that two inputs'
    # dims agree (ids and mask); onnxruntime takes whatever shapes each request brings.
    axes: dict[str, dict[int, str]] = {}
    offset = 1 if m.batching else 0
    for t in m.inputs + m.outputs:
        dims = {0: "batch"} if m.batching else {}
        for i, d in enumerate(t.shape):
            if d == -1:
                dims[i + offset] = f"{t.name}_dim{i}"
        if dims:
            axes[t.name] = dims
    return axes


def to_onnx(module, example_inputs: tuple, path: Path, m: ModelSpec) -> None:
    """The torch.onnx export models.yaml asks for (onnx.exporter), checked; TensorRT builds on it too."""
    import torch

    names_in = [t.name for t in m.inputs]
    names_out = [t.name for t in m.outputs]
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            if m.onnx.exporter == "dynamo":
                batch = torch.export.Dim("batch", min=1, max=max(m.max_batch_size, 2))
                shapes = []
                for t in m.inputs:
                    dims = {0: batch} if m.batching else {}
                    for i, d in enumerate(t.shape):
                        if d == -1:
                            hi = t.dim_range(i).max
                            dims[i + (1 if m.batching else 0)] = torch.export.Dim(f"dim{i}", min=1, max=hi)
                    shapes.append(dims)
                torch.onnx.export(
                    module, example_inputs, str(path), input_names=names_in, output_names=names_out,
                    dynamic_shapes=tuple(shapes), opset_version=m.onnx.opset, dynamo=True, external_data=False,
                )
            else:
                torch.onnx.export(
                    module, example_inputs, str(path), input_names=names_in, output_names=names_out,
                    dynamic_axes=_dynamic_axes(m), opset_version=m.onnx.opset, dynamo=False,
                )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(
            f"model '{m.name}': ONNX export failed ({type(exc).__name__}: {first}); fix: replace the op the "
            f"exporter cannot convert, try onnx: {{exporter: {'torchscript' if m.onnx.exporter == 'dynamo' else 'dynamo'}}}, "
            "or drop onnx from formats"
        ) from exc
    check(path, m.name)


def check_declared(path: Path, m: ModelSpec) -> None:
    """An ONNX source's declared inputs and outputs against its graph: the names, dtypes and shapes
    in models.yaml must be the graph's. All mismatches in one line naming the file, the declared
    and the graph's values; nothing has run yet."""
    import onnx

    where = f"model '{m.name}': source.onnx {path}"
    if not path.is_file():
        raise ExportError(f"{where} does not exist; fix the path in models.yaml")
    try:
        graph = onnx.load(str(path), load_external_data=False).graph
    except Exception as exc:
        raise ExportError(f"{where} is not a readable ONNX model ({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})") from exc
    spec_of = {triton: spec for spec, triton in SPEC_TO_TRITON.items()}
    inits = {i.name for i in graph.initializer}
    problems: list[str] = []
    for kind, declared, found in (
        ("inputs", m.inputs, [i for i in graph.input if i.name not in inits]),
        ("outputs", m.outputs, list(graph.output)),
    ):
        by_name = {v.name: v for v in found}
        names = [t.name for t in declared]
        if set(names) != set(by_name):
            problems.append(f"{kind} declares {names} but the graph's {kind} are {list(by_name)} (ONNX tensors are fed and read by name)")
            continue
        for t in declared:
            vi = by_name[t.name]
            elem = onnx.TensorProto.DataType.Name(vi.type.tensor_type.elem_type)
            graph_dtype = spec_of.get(ONNX_TO_TRITON.get(elem, ""), elem.lower())
            if graph_dtype != t.dtype:
                problems.append(f"{kind}.{t.name}.dtype is {t.dtype} but the graph's is {graph_dtype}")
            dims = onnx_dims(vi)
            if dims is None:
                continue  # the graph states no shape
            dims = [d if isinstance(d, int) and d > 0 else -1 for d in dims]
            if m.batching:
                if not dims or dims[0] > 0:
                    problems.append(
                        f"{kind}.{t.name} has no dynamic batch dim in the graph (its shape is {dims}) but max_batch_size is "
                        f"{m.max_batch_size}: export with a dynamic dim 0, or set max_batch_size: 0 and shape: {dims}"
                    )
                    continue
                dims = dims[1:]
            if len(dims) != len(t.shape) or any(g > 0 and g != d for g, d in zip(dims, t.shape)):
                per = " per sample, after the batch dim" if m.batching else ""
                problems.append(f"{kind}.{t.name}.shape is {t.shape} but the graph's is {dims}{per}")
    if problems:
        raise ExportError(f"{where} does not match models.yaml: {'; '.join(problems)}; fix models.yaml to the graph's names, dtypes and shapes")


def copy(source: Path, path: Path, m: ModelSpec) -> None:
    """An existing ONNX file as the source: copied, then checked like an export."""
    shutil.copyfile(source, path)
    check(path, m.name)


def check(path: Path, model: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise ExportError(f"model '{model}': exported ONNX fails onnx.checker with shape inference: {exc}") from exc
