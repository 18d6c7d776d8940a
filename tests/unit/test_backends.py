"""The CPU backends without a server: batching (merge, split, per-request errors), the config
checks the native backends make, and the pre/post-processing models, with a fake pb_utils."""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from tritonctl.backends.runtime import Batcher, ConfigError, ModelInfo

ROOT = Path(__file__).resolve().parents[2]


# ---- a fake triton_python_backend_utils ------------------------------------------------------
class FakeTensor:
    def __init__(self, name, array):
        self._name, self._array = name, np.asarray(array)

    def name(self):
        return self._name

    def as_numpy(self):
        return self._array


class FakeError:
    INVALID_ARG = 3

    def __init__(self, message, code=None):
        self._message = message

    def message(self):
        return self._message


class FakeResponse:
    def __init__(self, output_tensors, error=None):
        self.outputs = {t.name(): t.as_numpy() for t in output_tensors}
        self.error = error


class FakeRequest:
    def __init__(self, rid="", **inputs):
        self.inputs = inputs
        self.rid = rid

    def request_id(self):
        return self.rid


def _get_input(request, name):
    return FakeTensor(name, request.inputs[name]) if name in request.inputs else None


def _config_by_name(config, key, name):
    return next((t for t in config.get(key, []) if t["name"] == name), None)


pb = types.SimpleNamespace(
    Tensor=FakeTensor,
    TritonError=FakeError,
    InferenceResponse=FakeResponse,
    get_input_tensor_by_name=_get_input,
    get_input_config_by_name=lambda c, n: _config_by_name(c, "input", n),
    get_output_config_by_name=lambda c, n: _config_by_name(c, "output", n),
)


def load_model_file(path: Path, name: str):
    """Import a model.py against the fake pb_utils; the fake is in sys.modules only while the file
    imports it (the module keeps its own reference), so no other test can pick it up."""
    missing = object()
    previous = sys.modules.get("triton_python_backend_utils", missing)
    sys.modules["triton_python_backend_utils"] = pb
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if previous is missing:
            del sys.modules["triton_python_backend_utils"]
        else:
            sys.modules["triton_python_backend_utils"] = previous
    return module


LINEAR = {
    "name": "lin",
    "max_batch_size": 8,
    "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": [3]}],
    "output": [{"name": "y", "data_type": "TYPE_FP32", "dims": [3]}],
}


class CountingModel:
    def __init__(self, fail_on_negative=False):
        self.calls = []
        self.fail_on_negative = fail_on_negative

    def __call__(self, inputs):
        x = inputs["x"]
        self.calls.append(x.shape)
        if self.fail_on_negative and (x < 0).any():
            raise ValueError("negative input")
        return {"y": x * 2}


# ---- batching --------------------------------------------------------------------------------
def test_a_dynamic_batch_is_one_model_call_and_results_go_back_to_their_request():
    model = CountingModel()
    batcher = Batcher(ModelInfo.from_config(LINEAR), model)
    reqs = [FakeRequest(x=np.full((n, 3), n, np.float32)) for n in (1, 3, 2)]
    responses = batcher.execute(reqs, pb)
    assert model.calls == [(6, 3)]
    for n, r in zip((1, 3, 2), responses):
        assert r.error is None
        np.testing.assert_array_equal(r.outputs["y"], np.full((n, 3), 2 * n, np.float32))


def test_a_bad_request_fails_alone_and_its_neighbours_get_answers():
    model = CountingModel(fail_on_negative=True)
    batcher = Batcher(ModelInfo.from_config(LINEAR), model)
    reqs = [FakeRequest("a", x=np.ones((1, 3), np.float32)), FakeRequest("b", x=-np.ones((2, 3), np.float32)), FakeRequest("c", x=np.ones((1, 3), np.float32))]
    responses = batcher.execute(reqs, pb)
    # the merged try, then exactly one call per request, in request order
    assert model.calls == [(4, 3), (1, 3), (2, 3), (1, 3)]
    assert responses[0].error is None and responses[2].error is None
    message = responses[1].error.message()
    assert "model 'lin'" in message and "request 'b'" in message and "negative input" in message
    np.testing.assert_array_equal(responses[2].outputs["y"], 2 * np.ones((1, 3), np.float32))


def test_requests_with_different_shapes_run_in_separate_groups():
    cfg = dict(LINEAR, input=[{"name": "x", "data_type": "TYPE_FP32", "dims": [-1]}], output=[{"name": "y", "data_type": "TYPE_FP32", "dims": [-1]}])
    model = CountingModel()
    responses = Batcher(ModelInfo.from_config(cfg), model).execute(
        [FakeRequest(x=np.ones((1, 4), np.float32)), FakeRequest(x=np.ones((1, 5), np.float32)), FakeRequest(x=np.ones((2, 4), np.float32))], pb
    )
    assert sorted(model.calls) == [(1, 5), (3, 4)]
    assert [r.outputs["y"].shape for r in responses] == [(1, 4), (1, 5), (2, 4)]


def test_an_output_with_the_wrong_dtype_is_an_error_of_that_request():
    batcher = Batcher(ModelInfo.from_config(LINEAR), lambda inputs: {"y": inputs["x"].astype(np.float64)})
    (r,) = batcher.execute([FakeRequest(x=np.ones((1, 3), np.float32))], pb)
    assert r.error is not None and "dtype float64" in r.error.message() and "TYPE_FP32" in r.error.message()


def test_thread_parameters_are_read_and_validated():
    cfg = dict(LINEAR, parameters={"intra_op_thread_count": {"string_value": "3"}, "bad": {"string_value": "x"}})
    info = ModelInfo.from_config(cfg)
    assert info.int_parameter("intra_op_thread_count", default=1) == 3
    assert info.int_parameter("inter_op_thread_count", default=1) == 1
    with pytest.raises(ConfigError, match="parameter 'bad' must be an integer"):
        info.int_parameter("bad", default=1)


# ---- the onnxruntime backend's config checks ------------------------------------------------
@pytest.fixture(scope="module")
def ort_backend():
    return load_model_file(ROOT / "tools/tritonctl/backends/onnxruntime/model.py", "ort_backend_model")


def node(name, type_, shape):
    return types.SimpleNamespace(name=name, type=type_, shape=shape)


def test_onnx_config_matching_the_graph_is_accepted(ort_backend):
    ort_backend.validate(ModelInfo.from_config(LINEAR), [node("x", "tensor(float)", ["batch", 3])], [node("y", "tensor(float)", ["batch", 3])])


@pytest.mark.parametrize(
    "inputs,outputs,fragment",
    [
        ([node("input", "tensor(float)", ["b", 3])], [node("y", "tensor(float)", ["b", 3])], "unexpected inference input 'x', allowed inputs are: input"),
        ([node("x", "tensor(int64)", ["b", 3])], [node("y", "tensor(float)", ["b", 3])], "unexpected datatype TYPE_FP32 for inference input 'x', expecting TYPE_INT64"),
        ([node("x", "tensor(float)", [1, 3])], [node("y", "tensor(float)", ["b", 3])], "first dimension must be variable-size (-1)"),
        ([node("x", "tensor(float)", ["b", 4])], [node("y", "tensor(float)", ["b", 3])], "the model expects 2 dimensions (shape [-1, 4])"),
        ([node("x", "tensor(float)", ["b", 3])], [node("z", "tensor(float)", ["b", 3])], "unexpected inference output 'y', allowed outputs are: z"),
        ([node("x", "tensor(float)", ["b", 3]), node("m", "tensor(float)", ["b", 3])], [node("y", "tensor(float)", ["b", 3])], "configuration expects 1 inputs, model provides 2"),
    ],
)
def test_onnx_config_that_does_not_fit_the_graph_is_refused(ort_backend, inputs, outputs, fragment):
    with pytest.raises(ConfigError) as info:
        ort_backend.validate(ModelInfo.from_config(LINEAR), inputs, outputs)
    assert fragment in str(info.value)


# ---- the pytorch backend's naming rules -----------------------------------------------------
@pytest.fixture(scope="module")
def torch_backend():
    return load_model_file(ROOT / "tools/tritonctl/backends/pytorch/model.py", "torch_backend_model")


def info_with(inputs, outputs):
    return ModelInfo.from_config(
        {
            "name": "ts",
            "max_batch_size": 4,
            "input": [{"name": n, "data_type": "TYPE_FP32", "dims": [3]} for n in inputs],
            "output": [{"name": n, "data_type": "TYPE_FP32", "dims": [3]} for n in outputs],
        }
    )


def test_torchscript_inputs_by_argument_name_or_by_index_map_to_forward_order(torch_backend):
    assert torch_backend.input_order(info_with(["b", "a"], ["OUT__0"]), ["a", "b"], 2) == ["a", "b"]
    assert torch_backend.input_order(info_with(["IN__1", "IN__0"], ["OUT__0"]), ["a", "b"], 2) == ["IN__0", "IN__1"]


@pytest.mark.parametrize(
    "inputs,outputs,fragment",
    [
        (["a", "b"], ["y"], "must be named `<name>__<index>`"),
        (["a", "c"], ["y__0"], "neither forward() arguments"),
        (["IN__0", "IN__2"], ["y__0"], "no gaps"),
        (["a"], ["y__0"], "configuration expects 1 inputs, model provides 2"),
    ],
)
def test_torchscript_names_the_native_backend_refuses_are_refused(torch_backend, inputs, outputs, fragment):
    with pytest.raises(ConfigError) as info:
        torch_backend.input_order(info_with(inputs, outputs), ["a", "b"], 2)
    assert fragment in str(info.value)


def test_torchscript_model_runs_merged_batches(torch_backend, tmp_path):
    import torch

    class Two(torch.nn.Module):
        def forward(self, a, b):
            return a + b, a * b

    path = tmp_path / "1" / "model.pt"
    path.parent.mkdir()
    torch.jit.trace(Two(), (torch.ones(1, 3), torch.ones(1, 3))).save(str(path))
    cfg = {
        "name": "two",
        "max_batch_size": 4,
        "input": [{"name": "a", "data_type": "TYPE_FP32", "dims": [3]}, {"name": "b", "data_type": "TYPE_FP32", "dims": [3]}],
        "output": [{"name": "S__0", "data_type": "TYPE_FP32", "dims": [3]}, {"name": "P__1", "data_type": "TYPE_FP32", "dims": [3]}],
        "parameters": {"INTRA_OP_THREAD_COUNT": {"string_value": "1"}},
    }
    model = torch_backend.TritonPythonModel()
    model.initialize({"model_config": json.dumps(cfg), "model_repository": str(tmp_path), "model_version": "1"})
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 2, np.float32)
    scripted, batch_sizes = model.module, []

    def counting(*args):  # what the backend hands TorchScript: one call for the merged batch
        batch_sizes.append(args[0].shape[0])
        return scripted(*args)

    model.module = counting
    r1, r2 = model.execute([FakeRequest(a=a[:1], b=b[:1]), FakeRequest(a=a[1:], b=b[1:])])
    assert batch_sizes == [2]
    np.testing.assert_array_equal(r2.outputs["S__0"], a[1:] + b[1:])
    np.testing.assert_array_equal(r1.outputs["P__1"], a[:1] * b[:1])


# ---- digits_pipeline's Python models --------------------------------------------------------
def png(fill: int, ink: int) -> bytes:
    from PIL import Image

    img = Image.new("L", (56, 56), fill)
    for i in range(10, 46):
        img.putpixel((28, i), ink)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def preprocess():
    mod = load_model_file(ROOT / "examples/digits_pipeline/preprocess.py", "digits_preprocess_model")
    m = mod.TritonPythonModel()
    cfg = {
        "name": "digits_preprocess",
        "max_batch_size": 8,
        "input": [{"name": "IMAGE", "data_type": "TYPE_STRING", "dims": [1]}],
        "output": [{"name": "image", "data_type": "TYPE_FP32", "dims": [1, 28, 28]}],
        "parameters": {"max_image_bytes": {"string_value": "100000"}},
    }
    m.initialize({"model_config": json.dumps(cfg)})
    return m


def test_preprocess_inverts_dark_ink_on_white_and_keeps_white_on_black(preprocess):
    dark_on_white = np.array([[png(255, 0)]], dtype=object)
    white_on_black = np.array([[png(0, 255)]], dtype=object)
    r1, r2 = preprocess.execute([FakeRequest(IMAGE=dark_on_white), FakeRequest(IMAGE=white_on_black)])
    a, b = r1.outputs["image"], r2.outputs["image"]
    assert a.shape == b.shape == (1, 1, 28, 28) and a.dtype == np.float32
    assert a.mean() < 0.5 and b.mean() < 0.5 and 0.0 <= a.min() and a.max() <= 1.0
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_preprocess_refuses_bad_bytes_per_request(preprocess):
    good = np.array([[png(0, 255)]], dtype=object)
    r = preprocess.execute(
        [FakeRequest("ok", IMAGE=good), FakeRequest("junk", IMAGE=np.array([[b"junk"]], dtype=object)), FakeRequest("big", IMAGE=np.array([[b"x" * 200000]], dtype=object))]
    )
    assert r[0].error is None
    assert "request junk" in r[1].error.message() and "not a decodable image" in r[1].error.message()
    assert "above this model's limit of 100000" in r[2].error.message()


def test_postprocess_returns_top_k_labels_and_softmax_scores(tmp_path):
    mod = load_model_file(ROOT / "examples/digits_pipeline/postprocess.py", "digits_postprocess_model")
    (tmp_path / "labels.txt").write_text("\n".join(f"digit-{i}" for i in range(10)) + "\n")
    cfg = {
        "name": "digits_postprocess",
        "max_batch_size": 8,
        "input": [{"name": "logits", "data_type": "TYPE_FP32", "dims": [10]}],
        "output": [{"name": "LABELS", "data_type": "TYPE_STRING", "dims": [3]}, {"name": "SCORES", "data_type": "TYPE_FP32", "dims": [3]}],
        "parameters": {"top_k": {"string_value": "3"}},
    }
    m = mod.TritonPythonModel()
    m.initialize({"model_config": json.dumps(cfg), "model_repository": str(tmp_path), "model_version": "1"})
    logits = np.zeros((2, 10), np.float32)
    logits[0, 7], logits[0, 1], logits[1, 3] = 5.0, 4.0, 9.0
    r1, r2 = m.execute([FakeRequest(logits=logits[:1]), FakeRequest(logits=logits[1:])])
    assert list(r1.outputs["LABELS"][0][:2]) == [b"digit-7", b"digit-1"]
    assert r2.outputs["LABELS"][0][0] == b"digit-3"
    full = np.exp(logits[0]) / np.exp(logits[0]).sum()
    np.testing.assert_allclose(r1.outputs["SCORES"][0], np.sort(full)[::-1][:3], rtol=1e-5)
