"""Small Triton repositories written by the tests themselves (no dependency on `tritonctl build`).

Configs are ModelConfig messages written with text_format, as the build does; models are tiny
torch modules exported with torch.onnx.export(dynamo=False) and torch.jit.trace/script.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc


class Linear(torch.nn.Module):
    def __init__(self, seed: int = 0, scale: float = 1.0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.fc = torch.nn.Linear(10, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(2, 10, generator=g) * scale)
            self.fc.bias.copy_(torch.randn(2, generator=g))

    def forward(self, x):
        return self.fc(x)


class TwoInOut(torch.nn.Module):
    """Two inputs, two outputs: checks positional mapping of names."""

    def forward(self, a, b):
        return a + 2 * b, a - b


def tensor(name, dtype, dims):
    return mc.ModelInput(name=name, data_type=dtype, dims=dims)


def out(name, dtype, dims):
    return mc.ModelOutput(name=name, data_type=dtype, dims=dims)


def write_config(model_dir: Path, cfg: mc.ModelConfig) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.pbtxt").write_text(text_format.MessageToString(cfg))


def export_onnx(module: torch.nn.Module, example, path: Path, input_names, output_names, dynamic=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    axes = {n: {0: "batch"} for n in list(input_names) + list(output_names)} if dynamic else None
    torch.onnx.export(
        module.eval(),
        example,
        str(path),
        input_names=list(input_names),
        output_names=list(output_names),
        dynamic_axes=axes,
        opset_version=17,
        dynamo=False,
    )


def save_torchscript(module: torch.nn.Module, example, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    traced = torch.jit.trace(module.eval(), example)
    traced.save(str(path))


def linear_config(name: str, platform: str, in_name="x", out_name="y", max_batch=8, **extra) -> mc.ModelConfig:
    cfg = mc.ModelConfig(
        name=name,
        platform=platform,
        max_batch_size=max_batch,
        input=[tensor(in_name, mc.TYPE_FP32, [10])],
        output=[out(out_name, mc.TYPE_FP32, [2])],
        **extra,
    )
    if max_batch:
        cfg.dynamic_batching.max_queue_delay_microseconds = 20000
    return cfg


SLOW_MODEL = '''
import json
import os
import time
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        self.started_dir = params.get("started_dir", {}).get("string_value", "")

    def execute(self, requests):
        if self.started_dir:  # a state the test can wait on: this execution has begun
            open(os.path.join(self.started_dir, f"{os.getpid()}-{time.monotonic_ns()}"), "w").close()
        time.sleep(1.0)
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "x").as_numpy()
            out.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("y", x * 2)]))
        return out
'''


def write_slow_model(root: Path, started_dir: Path | None = None) -> None:
    """`slow`: a Python model that takes 1 s per execution (for shutdown-with-requests-in-flight);
    with ``started_dir``, each execution first drops a file there, so a test can wait until its
    requests are really executing instead of sleeping and hoping."""
    (root / "slow" / "1").mkdir(parents=True, exist_ok=True)
    (root / "slow" / "1" / "model.py").write_text(SLOW_MODEL)
    cfg = mc.ModelConfig(
        name="slow",
        backend="python",
        max_batch_size=0,
        input=[tensor("x", mc.TYPE_FP32, [4])],
        output=[out("y", mc.TYPE_FP32, [4])],
    )
    cfg.instance_group.add(count=4, kind=mc.ModelInstanceGroup.KIND_CPU)
    if started_dir is not None:
        started_dir.mkdir(parents=True, exist_ok=True)
        cfg.parameters["started_dir"].string_value = str(started_dir)
    write_config(root / "slow", cfg)


def build_fixture_repo(root: Path, *, corrupt: bool = False, base: bool = True) -> dict[str, torch.nn.Module]:
    """Write the fixture repository; returns eager modules by model name (for parity checks).

    ``base=False`` writes only the models the example repository lacks (linear_ab,
    two_io_torchscript), so they can be added to a `tritonctl build` output.
    """
    root.mkdir(parents=True, exist_ok=True)
    eager: dict[str, torch.nn.Module] = {}
    x = torch.randn(2, 10)

    lin = Linear(0)
    if base:
        export_onnx(lin, (x,), root / "linear" / "1" / "model.onnx", ["x"], ["y"])
        write_config(root / "linear", linear_config("linear", "onnxruntime_onnx"))
        eager["linear"] = lin

        save_torchscript(lin, (x,), root / "linear_torchscript" / "1" / "model.pt")
        cfg = linear_config("linear_torchscript", "pytorch_libtorch", in_name="x", out_name="y__0")
        cfg.parameters["INTRA_OP_THREAD_COUNT"].string_value = "1"
        write_config(root / "linear_torchscript", cfg)
        eager["linear_torchscript"] = lin

    # two versions side by side (A/B): version 1 and 2 differ
    lin2 = Linear(1, scale=3.0)
    export_onnx(lin, (x,), root / "linear_ab" / "1" / "model.onnx", ["x"], ["y"])
    export_onnx(lin2, (x,), root / "linear_ab" / "2" / "model.onnx", ["x"], ["y"])
    cfg = linear_config("linear_ab", "onnxruntime_onnx")
    cfg.version_policy.specific.versions.extend([1, 2])
    write_config(root / "linear_ab", cfg)
    eager["linear_ab/1"] = lin
    eager["linear_ab/2"] = lin2

    two = TwoInOut()
    ex = (torch.randn(2, 3), torch.randn(2, 3))
    save_torchscript(two, ex, root / "two_io_torchscript" / "1" / "model.pt")
    cfg = mc.ModelConfig(
        name="two_io_torchscript",
        platform="pytorch_libtorch",
        max_batch_size=4,
        input=[tensor("INPUT__0", mc.TYPE_FP32, [3]), tensor("INPUT__1", mc.TYPE_FP32, [3])],
        output=[out("OUTPUT__0", mc.TYPE_FP32, [3]), out("OUTPUT__1", mc.TYPE_FP32, [3])],
    )
    write_config(root / "two_io_torchscript", cfg)
    eager["two_io_torchscript"] = two

    if corrupt:
        bad = root / "corrupt" / "1"
        bad.mkdir(parents=True, exist_ok=True)
        (bad / "model.onnx").write_bytes(b"this is not an onnx file" * 10)
        write_config(root / "corrupt", linear_config("corrupt", "onnxruntime_onnx"))
    return eager


def eager_outputs(module: torch.nn.Module, *arrays: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        res = module(*[torch.from_numpy(a) for a in arrays])
    if isinstance(res, torch.Tensor):
        res = (res,)
    return [r.numpy() for r in res]


def build_broken_models(root: Path) -> dict[str, str]:
    """Models the native backends refuse, each with the fragment of the reason expected."""
    x = torch.randn(2, 10)
    lin = Linear(0)
    expected = {}

    bad = root / "corrupt" / "1"
    bad.mkdir(parents=True, exist_ok=True)
    (bad / "model.onnx").write_bytes(b"this is not an onnx file" * 10)
    write_config(root / "corrupt", linear_config("corrupt", "onnxruntime_onnx"))
    expected["corrupt"] = "onnxruntime could not read"

    export_onnx(lin, (x,), root / "misnamed_onnx" / "1" / "model.onnx", ["x"], ["y"])
    write_config(root / "misnamed_onnx", linear_config("misnamed_onnx", "onnxruntime_onnx", in_name="input"))
    expected["misnamed_onnx"] = "unexpected inference input 'input', allowed inputs are: x"

    export_onnx(lin, (x,), root / "fixed_batch_onnx" / "1" / "model.onnx", ["x"], ["y"], dynamic=False)
    write_config(root / "fixed_batch_onnx", linear_config("fixed_batch_onnx", "onnxruntime_onnx"))
    expected["fixed_batch_onnx"] = "the first dimension must be variable-size (-1)"

    export_onnx(lin, (x,), root / "wrong_dtype_onnx" / "1" / "model.onnx", ["x"], ["y"])
    cfg = linear_config("wrong_dtype_onnx", "onnxruntime_onnx")
    cfg.input[0].data_type = mc.TYPE_FP16
    write_config(root / "wrong_dtype_onnx", cfg)
    expected["wrong_dtype_onnx"] = "unexpected datatype TYPE_FP16 for inference input 'x', expecting TYPE_FP32"

    save_torchscript(lin, (x,), root / "misnamed_torchscript" / "1" / "model.pt")
    write_config(root / "misnamed_torchscript", linear_config("misnamed_torchscript", "pytorch_libtorch", out_name="y"))
    expected["misnamed_torchscript"] = "must be named `<name>__<index>`"

    save_torchscript(lin, (x,), root / "unknown_arg_torchscript" / "1" / "model.pt")
    write_config(root / "unknown_arg_torchscript", linear_config("unknown_arg_torchscript", "pytorch_libtorch", in_name="features", out_name="y__0"))
    expected["unknown_arg_torchscript"] = "neither forward() arguments"
    return expected
