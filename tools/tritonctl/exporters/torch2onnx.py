"""nn.Module -> ONNX (model.onnx) with dynamic batch and sequence dims, then onnx.checker."""

from __future__ import annotations

import io
import shutil
import warnings
from contextlib import redirect_stdout
from pathlib import Path

from tritonctl.errors import ExportError
from tritonctl.spec import ModelSpec


def _dynamic_axes(m: ModelSpec) -> dict[str, dict[int, str]]:
    axes: dict[str, dict[int, str]] = {}
    offset = 1 if m.batching else 0
    for t in m.inputs + m.outputs:
        dims = {0: "batch"} if m.batching else {}
        for i, d in enumerate(t.shape):
            if d == -1:
                dims[i + offset] = f"{t.name}_dim{i}"
        if dims:
            axes[t.name] = dims
    # Inputs sharing a dynamic dim index (ids and mask) share its symbol, so ONNX knows they agree.
    return axes


def export(module, example_inputs: tuple, path: Path, m: ModelSpec) -> None:
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
                            hi = t.range.max[i] if t.range else 32
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
