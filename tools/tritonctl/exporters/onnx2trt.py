"""ONNX -> TensorRT plan. Engines are specific to the GPU and the TensorRT version, so a plan is
built only where both are, and refused elsewhere with the alternatives."""

from __future__ import annotations

from tritonctl.errors import ExportError


def require_tensorrt(model: str) -> None:
    """Raise a clear error unless TensorRT and a CUDA GPU are available here."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        raise ExportError(
            f"model '{model}': the tensorrt format needs TensorRT and an NVIDIA GPU on the build machine, "
            "and TensorRT is not installed here; fix: build on the GPU node (pip install tensorrt), use the "
            "chart's in-cluster engine builder (tensorrtBuilder.enabled), or serve ONNX with ort_tensorrt"
        ) from None
    import torch

    if not torch.cuda.is_available():
        raise ExportError(
            f"model '{model}': the tensorrt format needs an NVIDIA GPU and none is visible here; fix: build on "
            "the GPU node that serves it, or use the chart's in-cluster engine builder (tensorrtBuilder.enabled)"
        )
