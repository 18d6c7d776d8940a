"""config.pbtxt generation through model_config_pb2: round trips and Triton's conventions."""

from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from tritonctl import config, spec as spec_mod

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC = spec_mod.load(REPO_ROOT / "models.yaml")
CONFIGS = config.build_configs(SPEC)


# models.yaml's dtype words and the names Triton's model_config.proto gives them (written out here
# by hand from the proto, so the test does not borrow the table the code under test uses).
TRITON_TYPES = {"float32": "TYPE_FP32", "int64": "TYPE_INT64", "string": "TYPE_STRING"}
RAW = yaml.safe_load((REPO_ROOT / "models.yaml").read_text())["models"]
PUBLISHED = [(m, f) for m in RAW for f in (m.get("formats") or [None])]


@pytest.mark.parametrize("m,fmt", PUBLISHED, ids=[f"{m['name']}-{f}" for m, f in PUBLISHED])
def test_every_config_carries_the_tensors_and_batch_size_models_yaml_declares(m, fmt):
    """Read against models.yaml as plain YAML and docs/models-yaml.md's defaults (max_batch_size 8,
    `serve` = the first format): names (TorchScript's `__<index>` suffix added), Triton dtypes,
    dims without the batch dimension, max_batch_size (written even when 0)."""
    served = m.get("serve", (m.get("formats") or [None])[0])
    name = m["name"] if fmt == served else f"{m['name']}_{fmt}"
    text = config.to_text(CONFIGS[name])
    cfg = text_format.Parse(text, mc.ModelConfig())
    assert cfg.name == name
    assert f"max_batch_size: {m.get('max_batch_size', 8)}\n" in text
    assert m.get("inputs") and m.get("outputs"), f"{name}: models.yaml declares no inputs or outputs to compare"
    for key, declared in (("input", m.get("inputs", [])), ("output", m.get("outputs", []))):
        want = [
            (f"{t['name']}__{i}" if fmt == "torchscript" else t["name"], TRITON_TYPES[t["dtype"]], list(t["shape"]))
            for i, t in enumerate(declared)
        ]
        got = [(t.name, mc.DataType.Name(t.data_type), list(t.dims)) for t in getattr(cfg, key)]
        assert got == want, f"{name} {key}"


def test_platforms_are_the_strings_triton_defines():
    assert CONFIGS["linear"].platform == "onnxruntime_onnx"
    assert CONFIGS["linear_torchscript"].platform == "pytorch_libtorch"
    assert CONFIGS["digits_pipeline"].platform == "ensemble"
    assert CONFIGS["digits_preprocess"].backend == "python"
    assert config.artifact_filename("tensorrt") == "model.plan"
    assert config.PLATFORMS["tensorrt"][0] == "tensorrt_plan"


def test_torchscript_tensor_names_follow_the_pytorch_backend_convention():
    cfg = CONFIGS["text_classifier_torchscript"]
    assert [i.name for i in cfg.input] == ["input_ids__0", "attention_mask__1"]
    assert [o.name for o in cfg.output] == ["logits__0"]
    assert [i.name for i in CONFIGS["text_classifier"].input] == ["input_ids", "attention_mask"]


def test_max_batch_size_zero_is_written_explicitly(tmp_path):
    m = spec_mod.ModelSpec.model_validate(
        {
            "name": "nobatch", "source": "a.b:c", "max_batch_size": 0,
            "inputs": [{"name": "x", "dtype": "float32", "shape": [1, 4]}],
            "outputs": [{"name": "y", "dtype": "float32", "shape": [1, 2]}],
        }
    )
    text = config.to_text(config.model_config(m, "onnx"))
    assert "max_batch_size: 0\n" in text
    assert "dynamic_batching" not in text
    assert text_format.Parse(text, mc.ModelConfig()).max_batch_size == 0


def test_dynamic_dims_labels_batching_and_warmup_are_written():
    digits = CONFIGS["digits"]
    assert digits.max_batch_size == 32
    assert digits.dynamic_batching.max_queue_delay_microseconds == 200
    assert digits.output[0].label_filename == "labels.txt"
    assert [w.batch_size for w in digits.model_warmup] == [1, 32]
    text = CONFIGS["text_classifier"]
    assert list(text.input[0].dims) == [-1] and text.input[0].data_type == mc.TYPE_INT64
    assert list(CONFIGS["resnet18"].dynamic_batching.preferred_batch_size) == [4, 8]


def test_ensemble_steps_map_tensors_in_order():
    steps = CONFIGS["digits_pipeline"].ensemble_scheduling.step
    assert [s.model_name for s in steps] == ["digits_preprocess", "digits", "digits_postprocess"]
    assert dict(steps[1].input_map) == {"image": "pixels"}


def test_ort_tensorrt_accelerator_and_gpu_instances():
    m = spec_mod.ModelSpec.model_validate(
        {
            "name": "fast", "source": "a.b:c",
            "inputs": [{"name": "x", "dtype": "float32", "shape": [4]}],
            "outputs": [{"name": "y", "dtype": "float32", "shape": [2]}],
            "ort_tensorrt": {"precision": "fp16", "workspace_mb": 256},
            "instance_groups": [{"count": 2, "kind": "gpu"}],
            "version_policy": {"specific": [1, 3]},
            "dynamic_batching": {"default_queue_policy": {"timeout_action": "delay", "max_queue_size": 64}},
        }
    )
    cfg = config.model_config(m, "onnx")
    acc = cfg.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert acc.name == "tensorrt"
    assert acc.parameters["precision_mode"] == "FP16"
    assert acc.parameters["max_workspace_size_bytes"] == str(256 * 1024 * 1024)
    assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU and cfg.instance_group[0].count == 2
    assert list(cfg.version_policy.specific.versions) == [1, 3]
    assert cfg.dynamic_batching.default_queue_policy.timeout_action == mc.ModelQueuePolicy.DELAY
    assert cfg.dynamic_batching.default_queue_policy.max_queue_size == 64


def test_committed_configs_equal_what_models_yaml_generates():
    """The drift check, in-process: model_repository/*/config.pbtxt are build outputs under review."""
    assert len(CONFIGS) >= len(PUBLISHED) > 0, "models.yaml generated fewer configs than it publishes"
    paths = {name: REPO_ROOT / "model_repository" / name / "config.pbtxt" for name in CONFIGS}
    assert [n for n, p in paths.items() if not p.exists()] == [], "missing: run make models and commit the configs"
    drifted = [n for n, p in paths.items() if p.read_text() != config.to_text(CONFIGS[n])]
    assert drifted == [], "drifted from models.yaml (build outputs under review): run make models"
