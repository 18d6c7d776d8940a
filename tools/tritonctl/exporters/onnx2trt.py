"""ONNX -> TensorRT plan, built where it runs.

A plan is specific to the GPU's compute capability and to the TensorRT version, so:
  * it is built only where TensorRT and a CUDA GPU are, and refused elsewhere with the ways out;
  * the optimization profile comes from models.yaml (batch 1..max_batch_size, min/opt/max of
    every dynamic dim), and the config's max_batch_size is that profile's max, so Triton can
    never hand the engine a batch it was not built for;
  * the file is named per compute capability (`model.sm90.plan`) and listed in the config's
    `cc_model_filenames`, so one version directory can hold plans for several GPU generations.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tritonctl.errors import ExportError

if TYPE_CHECKING:
    from tritonctl.exporters import ExportJob
    from tritonctl.exporters.runners import Runner
    from tritonctl.spec import ModelSpec

FORMAT = "tensorrt"
PLATFORM = "tensorrt_plan"
FILENAME = "model.plan"


def export(job: ExportJob) -> Runner:
    """Build the plan for this GPU from this build's ONNX export (a scratch one if onnx is not a format).

    With `tensorrt.compute_capabilities` the plan keeps its per-GPU name (listed in the config's
    cc_model_filenames); otherwise it takes Triton's default file name.
    """
    from tritonctl.exporters.torch2onnx import to_onnx

    m = job.model
    require_tensorrt(m.name)  # before any ONNX work: the refusal names the ways out
    onnx_path = job.exported.get("onnx")
    if onnx_path is None:
        onnx_path = job.scratch / f"{m.name}.source.onnx"
        to_onnx(job.module, job.example, onnx_path, m)
    plan = build_plan(onnx_path, job.version_dir, m)
    if not m.tensorrt.compute_capabilities:
        plan = plan.rename(job.path)
    return trt_runner(plan, [t.name for t in m.inputs], [t.name for t in m.outputs])


def require_tensorrt(model: str):
    """Return the tensorrt module, or raise a clear error naming the model and the ways out."""
    try:
        import tensorrt
    except ImportError:
        raise ExportError(
            f"model '{model}': the tensorrt format needs TensorRT and an NVIDIA GPU on the build machine, "
            "and TensorRT is not installed here; fix: build on the GPU node (pip install tensorrt), use the "
            "chart's in-cluster engine builder (engineBuild.enabled), or serve ONNX with ort_tensorrt"
        ) from None
    import torch

    if not torch.cuda.is_available():
        raise ExportError(
            f"model '{model}': the tensorrt format needs an NVIDIA GPU and none is visible here; fix: build on "
            "the GPU node that serves it, or use the chart's in-cluster engine builder (engineBuild.enabled)"
        )
    return tensorrt


def optimization_profile(m: ModelSpec) -> dict[str, tuple[list[int], list[int], list[int]]]:
    """min/opt/max full shapes (batch dim first when batching) per input."""
    prefs = m.dynamic_batching.preferred_batch_size if not isinstance(m.dynamic_batching, bool) else []
    opt_batch = max(prefs) if prefs else max(1, m.max_batch_size // 2)
    profile = {}
    for t in m.inputs:
        lo, mid, hi = [], [], []
        for i in range(len(t.shape)):
            values = t.dim_range(i)
            lo.append(values.min), mid.append(values.opt), hi.append(values.max)
        if m.batching:
            lo, mid, hi = [1] + lo, [opt_batch] + mid, [m.max_batch_size] + hi
        profile[t.name] = (lo, mid, hi)
    return profile


def plan_filename(compute_capability: str) -> str:
    """'9.0' -> 'model.sm90.plan'."""
    major, _, minor = compute_capability.partition(".")
    return f"model.sm{major}{minor or '0'}.plan"


def build_plan(onnx_path: Path, plan_dir: Path, m: ModelSpec) -> Path:
    """Build the plan for this machine's GPU into plan_dir; returns its path."""
    trt = require_tensorrt(m.name)
    import torch

    major, minor = torch.cuda.get_device_capability()
    cc = f"{major}.{minor}"
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(
            f"model '{m.name}': TensorRT {trt.__version__} cannot parse the ONNX model: {errors}; fix: replace "
            "the op, export with another onnx.opset, or serve this model as ONNX (optionally with ort_tensorrt)"
        )
    cfg = builder.create_builder_config()
    cfg.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, m.tensorrt.workspace_mb << 20)
    if m.tensorrt.precision == "fp16":
        if not builder.platform_has_fast_fp16:
            raise ExportError(
                f"model '{m.name}': tensorrt.precision fp16 but {torch.cuda.get_device_name()} has no fast FP16; "
                "fix: use precision: fp32"
            )
        cfg.set_flag(trt.BuilderFlag.FP16)
    elif m.tensorrt.precision == "int8":
        raise ExportError(
            # TensorRT's INT8 calibrator runs on the GPU that builds the plan; no GPU has tested that
            # path here yet, so INT8 is offered through the ONNX variants, which are gated on CPU.
            f"model '{m.name}': tensorrt.precision int8 is not built by tritonctl (its calibration runs on the GPU "
            "and is untested); fix: use fp16 or fp32 here, and serve INT8 from the ONNX export with "
            "precision: {variants: [{type: int8_static}]} (calibrated and gated, docs/precision.md)"
        )
    profile = builder.create_optimization_profile()
    for name, (lo, mid, hi) in optimization_profile(m).items():
        profile.set_shape(name, lo, mid, hi)
    cfg.add_optimization_profile(profile)
    engine = builder.build_serialized_network(network, cfg)
    if engine is None:
        raise ExportError(f"model '{m.name}': TensorRT failed to build the engine (see the log above)")
    path = Path(plan_dir) / plan_filename(cc)
    path.write_bytes(bytes(engine))
    return path


def trt_runner(plan_path: Path, input_names: list[str], output_names: list[str]):
    """Run a plan on the GPU with torch tensors as device buffers (for the parity gate)."""
    trt = require_tensorrt(plan_path.parent.parent.name)
    import numpy as np
    import torch

    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(Path(plan_path).read_bytes())
    context = engine.create_execution_context()

    def call(inputs):
        stream = torch.cuda.Stream()
        keep = []
        for name, a in zip(input_names, inputs):
            t = torch.from_numpy(np.ascontiguousarray(a)).cuda()
            keep.append(t)
            context.set_input_shape(name, tuple(a.shape))
            context.set_tensor_address(name, t.data_ptr())
        outs = []
        for name in output_names:
            dtype = torch.from_numpy(np.empty(0, dtype=trt.nptype(engine.get_tensor_dtype(name)))).dtype
            t = torch.empty(tuple(context.get_tensor_shape(name)), dtype=dtype, device="cuda")
            context.set_tensor_address(name, t.data_ptr())
            outs.append(t)
        context.execute_async_v3(stream.cuda_stream)
        stream.synchronize()
        return [o.cpu().numpy() for o in outs]

    return call
