"""A small, clean Triton repository built once per test module, for `tritonctl check` tests.

    lin_onnx   onnxruntime_onnx, x FP32 [4] -> y FP32 [2], batching, labels
    lin_ts     pytorch_libtorch, INPUT__0 FP32 [2] -> OUTPUT__0 FP32 [2], batching
    pyecho     python backend, IN FP32 [2] -> OUT FP32 [2]
    ens        ensemble: x -> lin_onnx -> mid -> lin_ts -> out
"""

from __future__ import annotations

import shutil
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc


def onnx_model(path: Path, *, opset: int = 17, batch="batch", in_name="x", out_name="y", ir_version: int | None = None,
               in_dims=(4,), out_dims=(2,)):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((in_dims[-1], out_dims[-1]), dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", [in_name, "W"], [out_name])], "g",
        [helper.make_tensor_value_info(in_name, TensorProto.FLOAT, [batch, *in_dims])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [batch, *out_dims])],
        initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version or 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def torchscript_model(path: Path):
    import torch

    class Lin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x)

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.trace(Lin(), torch.zeros(1, 2)), str(path))


def tensor(cls, name, dims, dtype="TYPE_FP32", **kw):
    return cls(name=name, data_type=mc.DataType.Value(dtype), dims=list(dims), **kw)


def write_config(model_dir: Path, cfg: mc.ModelConfig):
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "config.pbtxt").write_text(text_format.MessageToString(cfg))


def read_config(model_dir: Path) -> mc.ModelConfig:
    return text_format.Parse((model_dir / "config.pbtxt").read_text(), mc.ModelConfig())


def edit_config(model_dir: Path, fn):
    cfg = read_config(model_dir)
    fn(cfg)
    write_config(model_dir, cfg)


def build_clean_repo(root: Path) -> Path:
    repo = root / "repo"
    cfg = mc.ModelConfig(name="lin_onnx", platform="onnxruntime_onnx", max_batch_size=8)
    cfg.input.append(tensor(mc.ModelInput, "x", [4]))
    cfg.output.append(tensor(mc.ModelOutput, "y", [2], label_filename="labels.txt"))
    cfg.dynamic_batching.preferred_batch_size.extend([4, 8])
    write_config(repo / "lin_onnx", cfg)
    (repo / "lin_onnx" / "labels.txt").write_text("a\nb\n")
    onnx_model(repo / "lin_onnx" / "1" / "model.onnx")

    cfg = mc.ModelConfig(name="lin_ts", platform="pytorch_libtorch", max_batch_size=8)
    cfg.input.append(tensor(mc.ModelInput, "INPUT__0", [2]))
    cfg.output.append(tensor(mc.ModelOutput, "OUTPUT__0", [2]))
    write_config(repo / "lin_ts", cfg)
    torchscript_model(repo / "lin_ts" / "1" / "model.pt")

    cfg = mc.ModelConfig(name="pyecho", backend="python", max_batch_size=0)
    cfg.input.append(tensor(mc.ModelInput, "IN", [2]))
    cfg.output.append(tensor(mc.ModelOutput, "OUT", [2]))
    write_config(repo / "pyecho", cfg)
    (repo / "pyecho" / "1").mkdir()
    (repo / "pyecho" / "1" / "model.py").write_text("class TritonPythonModel:\n    pass\n")

    cfg = mc.ModelConfig(name="ens", platform="ensemble", max_batch_size=8)
    cfg.input.append(tensor(mc.ModelInput, "x", [4]))
    cfg.output.append(tensor(mc.ModelOutput, "out", [2]))
    s1 = cfg.ensemble_scheduling.step.add(model_name="lin_onnx", model_version=-1)
    s1.input_map["x"] = "x"
    s1.output_map["y"] = "mid"
    s2 = cfg.ensemble_scheduling.step.add(model_name="lin_ts", model_version=-1)
    s2.input_map["INPUT__0"] = "mid"
    s2.output_map["OUTPUT__0"] = "out"
    write_config(repo / "ens", cfg)
    (repo / "ens" / "1").mkdir()
    return repo


def copy_repo(clean: Path, dst: Path) -> Path:
    return Path(shutil.copytree(clean, dst / "repo"))
