"""Triton's `pytorch` (libtorch) backend for CPU, as a Python-based backend.

`tritonctl serve` places this file at ``<backend-directory>/pytorch/model.py``; Triton then runs
every model with ``platform: "pytorch_libtorch"`` (or ``backend: "pytorch"``) through it.

What it does like the native backend:
  * loads ``<version>/model.pt`` (or ``default_model_filename``) with ``torch.jit.load`` on CPU;
  * accepts exactly the tensor names the native backend accepts (tritonctl.naming): inputs all
    named like the forward() arguments or all ``<name>__<index>``; outputs ``<name>__<index>``,
    index = position in the returned tuple; anything else is refused at load time;
  * honours the parameters ``INTRA_OP_THREAD_COUNT`` / ``INTER_OP_THREAD_COUNT`` (default 1 and
    1: torch's OpenMP workers spin-wait and collapse when they share the cores with Triton's
    frontends and the clients - measured on 2 cores, digits 238 -> 1436 samples/s and ResNet-18
    3.6 -> 12 samples/s with 1 thread instead of 2; scale across cores with instances, see
    benchmarks/NOTES.md) and ``ENABLE_INFERENCE_MODE`` (default true);
  * runs a dynamic batch as ONE forward() call; a bad request fails alone (see backends/runtime.py).
"""

from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils

from tritonctl.backends.runtime import PYTORCH_INTRA_OP_THREADS, Batcher, ConfigError, ModelInfo, model_file
from tritonctl.naming import check_torchscript_inputs, check_torchscript_outputs, index_of


def forward_arguments(module) -> tuple[list[str], int]:
    """forward()'s argument names (without self) and how many of them have no default."""
    args = list(module.forward.schema.arguments)[1:]
    required = sum(1 for a in args if not a.has_default_value())
    return [a.name for a in args], required


def input_order(info: ModelInfo, forward_args: list[str], required: int) -> list[str]:
    """Config input names in forward() positional order, or ConfigError as the native backend words it."""
    prefix = f"unable to load model '{info.name}'"
    names = [s.name for s in info.inputs]
    if not (required <= len(names) <= len(forward_args)):
        raise ConfigError(
            f"{prefix}: configuration expects {len(names)} inputs, model provides "
            f"{len(forward_args)} (forward() arguments: {forward_args})"
        )
    problems = check_torchscript_inputs(names, forward_args) + check_torchscript_outputs(
        [s.name for s in info.outputs]
    )
    if problems:
        raise ConfigError(f"{prefix}: " + "; ".join(problems))
    if all(index_of(n) is not None for n in names):
        return sorted(names, key=index_of)
    order = sorted(names, key=forward_args.index)
    if order != forward_args[: len(order)]:
        raise ConfigError(
            f"{prefix}: inputs {names} skip a forward() argument without a default: the backend "
            f"passes inputs positionally ({forward_args})"
        )
    return order


class TritonPythonModel:
    def initialize(self, args):
        import torch

        self.torch = torch
        self.info = ModelInfo.from_args(args)
        path = model_file(args, self.info, "model.pt")
        intra = self.info.int_parameter(PYTORCH_INTRA_OP_THREADS, default=1)
        inter = self.info.int_parameter("INTER_OP_THREAD_COUNT", default=1)
        if intra > 0:
            torch.set_num_threads(intra)
        if inter > 0:
            try:
                torch.set_num_interop_threads(inter)
            except RuntimeError:
                pass  # already set in this process (only possible before any parallel work)
        self.inference_mode = self.info.parameters.get("ENABLE_INFERENCE_MODE", "true").lower() != "false"
        for spec in self.info.inputs + self.info.outputs:
            if spec.data_type == "TYPE_STRING":
                raise ConfigError(
                    f"unable to load model '{self.info.name}': tensor '{spec.name}' is TYPE_STRING, "
                    "which the local pytorch backend does not serve; use a numeric type"
                )
        # KIND_GPU instances (on a machine with CUDA) run on their device, like the native backend.
        gpu = args.get("model_instance_kind") == "GPU"
        self.device = torch.device(f"cuda:{args.get('model_instance_device_id', 0)}" if gpu else "cpu")
        try:
            self.module = torch.jit.load(path, map_location=self.device)
        except Exception as exc:
            raise ConfigError(
                f"unable to load model '{self.info.name}': failed to load model '{path}': "
                f"{str(exc).splitlines()[0] if str(exc) else exc!r} (it must be a TorchScript file "
                "written by torch.jit.save)"
            ) from exc
        self.module.eval()
        forward_args, required = forward_arguments(self.module)
        self.input_names = input_order(self.info, forward_args, required)
        self.output_index = {s.name: index_of(s.name) for s in self.info.outputs}
        self.batcher = Batcher(self.info, self._run)

    def _run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self.torch
        tensors = [
            torch.from_numpy(np.ascontiguousarray(inputs[n])).to(self.device) for n in self.input_names if n in inputs
        ]
        ctx = torch.inference_mode() if self.inference_mode else torch.no_grad()
        with ctx:
            result = self.module(*tensors)
        if isinstance(result, torch.Tensor):
            result = (result,)
        elif isinstance(result, dict):
            raise RuntimeError("forward() returned a dict; the PyTorch backend needs a tensor or a tuple of tensors")
        result = list(result)
        outputs = {}
        for name, index in self.output_index.items():
            if index >= len(result):
                raise RuntimeError(
                    f"output '{name}' refers to position {index} but forward() returned {len(result)} tensors"
                )
            outputs[name] = result[index].detach().cpu().numpy()
        return outputs

    def execute(self, requests):
        return self.batcher.execute(requests, pb_utils)

    def finalize(self):
        self.module = None
