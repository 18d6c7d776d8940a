"""Triton's `onnxruntime` backend for CPU, as a Python-based backend.

`tritonctl serve` places this file at ``<backend-directory>/onnxruntime/model.py``; Triton then
runs every model with ``platform: "onnxruntime_onnx"`` (or ``backend: "onnxruntime"``) through it,
one Python stub process per instance (``instance_group { count: N }``).

What it does like the native backend:
  * loads ``<version>/model.onnx`` (or ``default_model_filename``) with onnxruntime on CPU;
  * validates the config against the graph at load time (names, dtypes, ranks, the variable
    first dimension a batching model needs) and refuses a mismatch with the native message;
  * honours the parameters ``intra_op_thread_count`` / ``inter_op_thread_count`` (default: the
    machine's cores divided by the instance count, and 1) and ``allow_spinning`` (default 0:
    idle intra-op threads sleep instead of spinning on cores the server and clients share);
  * runs a dynamic batch as ONE session call; a bad request fails alone (see backends/runtime.py).

`tritonctl.server.distribution.server_env` puts the tritonctl package on the stub's PYTHONPATH.
"""

from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils

from tritonctl.backends.runtime import (
    ONNXRUNTIME_INTRA_OP_THREADS,
    Batcher,
    ConfigError,
    ModelInfo,
    default_thread_count,
    model_file,
)
from tritonctl.wire.dtypes import ORT_TO_TRITON


def _model_shape(node) -> list[int]:
    return [d if isinstance(d, int) and d >= 0 else -1 for d in (node.shape or [])]


def validate(info: ModelInfo, model_inputs, model_outputs) -> None:
    """Compare the config with the ONNX graph the way the native onnxruntime backend does."""
    prefix = f"unable to load model '{info.name}'"
    by_name_in = {n.name: n for n in model_inputs}
    by_name_out = {n.name: n for n in model_outputs}
    cfg_in = {s.name for s in info.inputs}
    for spec in info.inputs:
        if spec.name not in by_name_in:
            raise ConfigError(
                f"{prefix}: unexpected inference input '{spec.name}', allowed inputs are: "
                f"{', '.join(by_name_in)} (rename the input in config.pbtxt to the ONNX graph's name)"
            )
    missing = [n for n in by_name_in if n not in cfg_in]
    if missing:
        raise ConfigError(
            f"{prefix}: configuration expects {len(info.inputs)} inputs, model provides "
            f"{len(by_name_in)} (missing from config.pbtxt: {', '.join(missing)})"
        )
    for spec in info.outputs:
        if spec.name not in by_name_out:
            raise ConfigError(
                f"{prefix}: unexpected inference output '{spec.name}', allowed outputs are: "
                f"{', '.join(by_name_out)}"
            )
    for kind, specs, nodes in (("input", info.inputs, by_name_in), ("output", info.outputs, by_name_out)):
        for spec in specs:
            node = nodes[spec.name]
            model_type = ORT_TO_TRITON.get(node.type, node.type)
            if model_type != spec.data_type:
                raise ConfigError(
                    f"{prefix}: unexpected datatype {spec.data_type} for inference {kind} "
                    f"'{spec.name}', expecting {model_type}"
                )
            shape = _model_shape(node)
            if not node.shape:
                continue  # the graph leaves the shape unknown: nothing to compare
            if info.batching and (len(shape) < 1 or shape[0] != -1):
                raise ConfigError(
                    f"model '{info.name}', tensor '{spec.name}': for the model to support batching the "
                    f"shape should have at least 1 dimension and the first dimension must be "
                    f"variable-size (-1); but shape expected by the model is {shape} (export with a "
                    f"dynamic batch axis, or set max_batch_size: 0)"
                )
            want = info.full_shape(spec)
            compatible = len(shape) == len(want) and all(m == -1 or m == c for m, c in zip(shape, want))
            if not compatible:
                batch_note = (
                    "an initial batch dimension because max_batch_size > 0 followed by the explicit "
                    "tensor shape, making complete shape "
                    if info.batching
                    else ""
                )
                raise ConfigError(
                    f"model '{info.name}', tensor '{spec.name}': the model expects {len(shape)} "
                    f"dimensions (shape {shape}) but the model configuration specifies "
                    f"{len(want)} dimensions ({batch_note}{want})"
                )


class TritonPythonModel:
    def initialize(self, args):
        import onnxruntime as ort

        self.info = ModelInfo.from_args(args)
        path = model_file(args, self.info, "model.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.info.int_parameter(
            ONNXRUNTIME_INTRA_OP_THREADS, default=default_thread_count(self.info.instance_count)
        )
        opts.inter_op_num_threads = self.info.int_parameter("inter_op_thread_count", default=1)
        # Idle intra-op workers spin by default; on CPU cores shared with Triton's frontends, the
        # stub and the clients they burn the time those need (benchmarks/NOTES.md).
        spin = self.info.int_parameter("allow_spinning", default=0)
        opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        level = self.info.int_parameter("optimization_level", default=99)  # native: 0 basic, 1 all, -1 off
        opts.graph_optimization_level = {
            -1: ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            0: ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        }.get(level, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
        providers = ["CPUExecutionProvider"]
        if args.get("model_instance_kind") == "GPU":
            # KIND_GPU instances use onnxruntime's CUDA provider on their device (onnxruntime-gpu).
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ConfigError(
                    f"unable to load model '{self.info.name}': KIND_GPU instance but this onnxruntime has no "
                    "CUDAExecutionProvider; install onnxruntime-gpu or use instance_group kind KIND_CPU"
                )
            providers = [("CUDAExecutionProvider", {"device_id": int(args.get("model_instance_device_id", 0))})]
        try:
            self.session = ort.InferenceSession(path, sess_options=opts, providers=providers)
        except Exception as exc:
            raise ConfigError(
                f"unable to load model '{self.info.name}': onnxruntime could not read '{path}': {exc}"
            ) from exc
        validate(self.info, self.session.get_inputs(), self.session.get_outputs())
        self.output_names = [s.name for s in self.info.outputs]
        self.batcher = Batcher(self.info, self._run)

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = self.session.run(self.output_names, inputs)
        return dict(zip(self.output_names, results))

    def execute(self, requests):
        return self.batcher.execute(requests, pb_utils)

    def finalize(self):
        self.session = None
