"""The TensorRT path: refused cleanly without TensorRT/GPU, profiles and configs from models.yaml."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tritonctl import build, config, spec as spec_mod
from tritonctl.errors import ExportError
from tritonctl.exporters import onnx2trt

from buildkit import LINEAR, make_project, tree_digest

HAVE_TRT = importlib.util.find_spec("tensorrt") is not None


def text_model(**over):
    m = {
        "name": "text", "source": "a.b:c", "max_batch_size": 16, "formats": ["onnx", "tensorrt"],
        "dynamic_batching": {"preferred_batch_size": [4, 8]},
        "inputs": [{"name": "ids", "dtype": "int64", "shape": [-1], "range": {"min": [1], "opt": [64], "max": [128]}}],
        "outputs": [{"name": "logits", "dtype": "float32", "shape": [2]}],
    }
    m.update(over)
    return spec_mod.ModelSpec.model_validate(m)


def test_the_profile_spans_batch_one_to_max_batch_size_and_the_dynamic_ranges():
    profile = onnx2trt.optimization_profile(text_model())
    assert profile == {"ids": ([1, 1], [8, 64], [16, 128])}


def test_the_tensorrt_config_lists_a_plan_per_gpu_generation_and_never_batches_beyond_the_engine():
    m = text_model(tensorrt={"precision": "fp16", "compute_capabilities": ["8.0", "9.0"]})
    cfg = config.model_config(m, "tensorrt")
    assert cfg.name == "text_tensorrt" and cfg.platform == "tensorrt_plan"
    assert dict(cfg.cc_model_filenames) == {"8.0": "model.sm80.plan", "9.0": "model.sm90.plan"}
    assert cfg.max_batch_size == 16  # models.yaml's max_batch_size: the profile's max batch (see above)
    assert max(cfg.dynamic_batching.preferred_batch_size) <= cfg.max_batch_size


def test_a_profile_whose_max_is_below_opt_is_refused_naming_the_field(tmp_path):
    with pytest.raises(Exception) as exc:
        text_model(inputs=[{"name": "ids", "dtype": "int64", "shape": [-1], "range": {"min": [1], "opt": [64], "max": [32]}}])
    assert "min <= opt <= max" in str(exc.value)


def test_a_malformed_compute_capability_is_refused():
    with pytest.raises(Exception, match="compute capabilities are written like"):
        text_model(tensorrt={"compute_capabilities": ["sm90"]})


@pytest.mark.skipif(HAVE_TRT, reason="TensorRT is installed here")
def test_a_tensorrt_build_without_tensorrt_is_refused_and_publishes_nothing(tmp_path):
    path, _ = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:linear", formats=["onnx", "tensorrt"])])
    with pytest.raises(ExportError) as exc:
        build.build(spec_mod.load(path))
    msg = str(exc.value)
    assert "model 'lin'" in msg and "TensorRT" in msg
    assert_names_a_chart_value(msg)
    assert tree_digest(tmp_path / "repo") == {}


def assert_names_a_chart_value(msg: str) -> None:
    """The in-cluster engine builder the message points at is a value the chart has."""
    import re
    from pathlib import Path

    import yaml

    named = re.findall(r"\(([A-Za-z]+)\.enabled\)", msg)
    assert named, msg
    values = yaml.safe_load((Path(__file__).resolve().parents[2] / "helm" / "triton" / "values.yaml").read_text())
    assert all(isinstance(values.get(n), dict) and "enabled" in values[n] for n in named), (named, msg)
    assert named == ["engineBuild"]


def test_a_tensorrt_build_without_a_gpu_names_the_charts_engine_builder(monkeypatch):
    import sys
    import types

    import torch

    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ExportError) as exc:
        onnx2trt.require_tensorrt("lin")
    assert "model 'lin'" in str(exc.value) and "GPU" in str(exc.value)
    assert_names_a_chart_value(str(exc.value))


@pytest.mark.gpu
@pytest.mark.skipif(not HAVE_TRT, reason="TensorRT is not installed")
def test_a_tensorrt_plan_is_built_served_file_named_and_matches_eager(tmp_path):
    path, _ = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:linear", formats=["onnx", "tensorrt"])])
    build.build(spec_mod.load(path))
    record = (tmp_path / "repo" / "lin_tensorrt" / "1" / "build.json").read_text()
    assert (tmp_path / "repo" / "lin_tensorrt" / "1" / "model.plan").stat().st_size > 0
    assert '"ok": true' in record
    cfg = config.parse((tmp_path / "repo" / "lin_tensorrt" / "config.pbtxt").read_text())
    assert cfg.platform == "tensorrt_plan" and cfg.max_batch_size == 4
    parity = json.loads(record)["parity"]
    assert [c.split(",")[0] for c in parity["cases"]] == ["batch 1", "batch 2", "batch 4"]
    assert all(o["max_abs"] <= o["atol"] for o in parity["outputs"])
