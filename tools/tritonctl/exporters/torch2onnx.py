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

if TYPE_CHECKING:
    from tritonctl.exporters import ExportJob
    from tritonctl.parity import Runner
    from tritonctl.spec import ModelSpec

FORMAT = "onnx"
PLATFORM = "onnxruntime_onnx"
FILENAME = "model.onnx"


def export(job: ExportJob) -> Runner:
    """Export (or copy an ONNX source) into job.path; the runner is onnxruntime on that file."""
    from tritonctl.spec import OnnxSource

    m = job.model
    if isinstance(m.source, OnnxSource):
        copy(job.spec.resolve(m.source.onnx), job.path, m)
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
