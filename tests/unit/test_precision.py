"""Reduced-precision variants: the spec, the calibration files, the task metrics and the
accuracy gate as a build runs it. Small models only (a 4-feature linear layer and a near-tie
classifier); resnet18 is measured by `make bench-precision`, the served variants by
tests/integration/test_precision_served.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tritonctl import build, config, spec as spec_mod
from tritonctl.errors import SpecError
from tritonctl.precision import calibration, gate

from buildkit import LINEAR, make_project, tree_digest

# A classifier whose two first classes nearly tie: logit 1 = logit 0 + 1e-4 * (r . x). FP32 orders
# them by the sign of a tiny term that 8-bit weights and activations cannot represent, so an INT8
# variant flips the answer on many samples: a model built to miss a top-1 gate.
NEAR_TIE = '''

class NearTie(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        w = torch.randn(3, 16)
        w[1] = w[0] + 1e-4 * torch.randn(16)
        w[2] = -w[0]  # class 2 wins where 0 and 1 lose, so half the samples are a near tie
        self.fc = nn.Linear(16, 3, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(w)

    def forward(self, x):
        return self.fc(x)


def near_tie():
    return NearTie()
'''

NEAR_TIE_MODEL = {
    "name": "tie",
    "source": "{pkg}.nets:near_tie",
    "inputs": [{"name": "x", "dtype": "float32", "shape": [16]}],
    "outputs": [{"name": "scores", "dtype": "float32", "shape": [3]}],
    "max_batch_size": 8,
}


def _model(**precision) -> spec_mod.ModelSpec:
    return spec_mod.ModelSpec.model_validate({
        "name": "two", "source": "m:f", "max_batch_size": 4,
        "inputs": [{"name": "ids", "dtype": "int64", "shape": [-1]}, {"name": "image", "dtype": "float32", "shape": [1, 4, 4]}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [2]}],
        "precision": precision or {"variants": [{"type": "int8_static"}]},
    })


def _spec_error(tmp_path, model: dict, others: list[dict] = ()) -> str:
    path, _ = make_project(tmp_path, [model, *others])
    with pytest.raises(SpecError) as err:
        spec_mod.load(path)
    return str(err.value)


# --- models.yaml --------------------------------------------------------------------------------

def test_precision_variants_need_the_onnx_format(tmp_path):
    msg = _spec_error(tmp_path, dict(LINEAR, source="{pkg}.nets:linear", formats=["torchscript"],
                                     precision={"variants": [{"type": "fp16"}]}))
    assert "model 'lin'" in msg and "add onnx to formats" in msg


def test_a_variant_name_that_another_model_publishes_is_refused(tmp_path):
    other = dict(LINEAR, name="lin_int8", source="{pkg}.nets:linear")
    msg = _spec_error(tmp_path, dict(LINEAR, source="{pkg}.nets:linear", precision={"variants": [{"type": "int8_static"}]}),
                      [other])
    assert "publish a model named 'lin_int8'" in msg


def test_two_variants_with_one_suffix_are_refused_with_the_fix(tmp_path):
    msg = _spec_error(tmp_path, dict(LINEAR, source="{pkg}.nets:linear",
                                     precision={"variants": [{"type": "int8_static"}, {"type": "int8_dynamic", "name": "int8"}]}))
    assert "precision" in msg and "['int8']" in msg and "distinct `name:`" in msg


def test_a_gate_names_one_metric(tmp_path):
    msg = _spec_error(tmp_path, dict(LINEAR, source="{pkg}.nets:linear",
                                     precision={"variants": [{"type": "fp16", "gate": {"top1": 0.9, "cosine": 0.9}}]}))
    assert "precision.variants.0.gate" in msg and "one metric per gate" in msg


def test_tensorrt_int8_is_refused_at_load_and_points_to_the_onnx_int8_variant(tmp_path):
    msg = _spec_error(tmp_path, dict(LINEAR, source="{pkg}.nets:linear", formats=["onnx", "tensorrt"],
                                     tensorrt={"precision": "int8"}))
    assert "model 'lin'" in msg and "tensorrt.precision int8" in msg
    assert "precision: {variants: [{type: int8_static}]}" in msg and "docs/precision.md" in msg


def test_each_variant_gets_its_own_config_named_after_its_suffix():
    m = _model(variants=[{"type": "int8_static"}, {"type": "int8_dynamic"}, {"type": "fp16", "name": "half"}])
    spec = spec_mod.Spec(models=[m])
    configs = config.build_configs(spec)
    assert {"two", "two_int8", "two_int8_dynamic", "two_half"} <= set(configs)
    fp32, int8 = configs["two"], configs["two_int8"]
    # clients call a variant exactly like the FP32 model: same tensors, same batching
    assert list(int8.input) == list(fp32.input) and list(int8.output) == list(fp32.output)
    assert int8.max_batch_size == fp32.max_batch_size and int8.platform == "onnxruntime_onnx"
    assert "INT8 static" in int8.parameters["description"].string_value


# --- calibration files --------------------------------------------------------------------------

def _npz(tmp_path, **arrays):
    path = tmp_path / "calib.npz"
    np.savez(path, **arrays)
    return path


def test_a_calibration_file_with_the_right_arrays_loads_in_input_order(tmp_path):
    m = _model()
    ids, image = np.ones((5, 7), np.int32), np.zeros((5, 1, 4, 4), np.float64)
    got = calibration.load(_npz(tmp_path, image=image, ids=ids), m, "calibration")
    assert [a.shape for a in got] == [(5, 7), (5, 1, 4, 4)]
    assert [a.dtype for a in got] == [np.int64, np.float32]  # cast to the declared dtypes


def test_a_calibration_file_with_a_wrong_input_name_names_the_file_and_the_inputs(tmp_path):
    path = _npz(tmp_path, ids=np.ones((5, 7), np.int64), images=np.zeros((5, 1, 4, 4), np.float32))
    with pytest.raises(SpecError) as err:
        calibration.load(path, _model(), "calibration")
    msg = str(err.value)
    assert str(path) in msg and "precision.calibration" in msg
    assert "missing: ['image']" in msg and "unknown: ['images']" in msg


def test_a_calibration_file_with_a_wrong_shape_names_the_input_and_both_shapes(tmp_path):
    path = _npz(tmp_path, ids=np.ones((5, 7), np.int64), image=np.zeros((5, 1, 4, 5), np.float32))
    with pytest.raises(SpecError) as err:
        calibration.load(path, _model(), "evaluation")
    msg = str(err.value)
    assert str(path) in msg and "precision.evaluation" in msg
    assert "input 'image' has shape [5, 1, 4, 5], expected ['N', 1, 4, 4]" in msg


def test_a_calibration_file_without_the_samples_axis_is_refused(tmp_path):
    path = _npz(tmp_path, ids=np.ones((5, 7), np.int64), image=np.zeros((1, 4, 4), np.float32))
    with pytest.raises(SpecError, match=r"input 'image' has shape \[1, 4, 4\], expected \['N', 1, 4, 4\]"):
        calibration.load(path, _model(), "calibration")


def test_inputs_with_different_sample_counts_are_refused(tmp_path):
    path = _npz(tmp_path, ids=np.ones((5, 7), np.int64), image=np.zeros((4, 1, 4, 4), np.float32))
    with pytest.raises(SpecError, match="input 'image' has 4 samples, 'ids' 5"):
        calibration.load(path, _model(), "calibration")


def test_a_npy_file_for_a_model_with_two_inputs_asks_for_a_npz(tmp_path):
    path = tmp_path / "calib.npy"
    np.save(path, np.zeros((3, 1, 4, 4), np.float32))
    with pytest.raises(SpecError, match=r"a \.npy file holds one array but the model has 2 inputs \['ids', 'image'\]"):
        calibration.load(path, _model(), "calibration")


def test_a_missing_or_foreign_calibration_file_is_named(tmp_path):
    with pytest.raises(SpecError, match=r"precision.calibration .*nope.npz does not exist"):
        calibration.load(tmp_path / "nope.npz", _model(), "calibration")
    csv = tmp_path / "calib.csv"
    csv.write_text("1,2\n")
    with pytest.raises(SpecError, match=r"expected a \.npz .* or \.npy"):
        calibration.load(csv, _model(), "calibration")


def test_drawn_samples_follow_the_declared_values_of_float_inputs():
    m = spec_mod.ModelSpec.model_validate({
        "name": "img", "source": "m:f", "inputs": [{"name": "image", "dtype": "float32", "shape": [1, 8, 8], "values": [0, 1]}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [2]}], "precision": {"variants": [{"type": "fp16"}]}})
    (image,) = calibration.draw(m, 32, seed=0)
    assert image.shape == (32, 1, 8, 8) and image.min() >= 0 and image.max() < 1


# --- the metrics --------------------------------------------------------------------------------

def test_top1_agreement_counts_samples_whose_argmax_is_the_same():
    fp32 = [np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 2, 0]], np.float32)]
    got = [np.array([[2, 1, 0], [0, 3, 1], [1, 0, 0], [1, 2, 0]], np.float32)]  # sample 2 flips
    assert gate.measure("top1", fp32, got) == (0.75, None)


def test_cosine_is_the_mean_over_samples_and_keeps_the_worst_sample():
    fp32 = [np.array([[1.0, 0.0], [1.0, 1.0]])]
    got = [np.array([[0.0, 1.0], [2.0, 2.0]])]  # orthogonal (0), then parallel (1)
    mean, worst = gate.measure("cosine", fp32, got)
    assert mean == pytest.approx(0.5) and worst == pytest.approx(0.0)


def test_relative_error_is_the_norm_of_the_difference_over_the_norm_of_fp32():
    fp32 = [np.array([[3.0, 4.0]])]  # norm 5
    got = [np.array([[3.0, 5.0]])]  # difference norm 1
    assert gate.measure("rel_error", fp32, got)[0] == pytest.approx(0.2)


# --- the gate in a build ------------------------------------------------------------------------

def test_a_variant_that_misses_its_gate_is_not_published_and_the_error_says_what_to_try(tmp_path):
    path, _ = make_project(tmp_path, [NEAR_TIE_MODEL], extra=NEAR_TIE)
    build.build(spec_mod.load(path))  # the FP32 model alone, published
    repo = tmp_path / "repo"
    before = tree_digest(repo)

    raw = path.read_text().replace("max_batch_size: 8", "max_batch_size: 8\n  precision:\n    variants: [{type: int8_static}]")
    path.write_text(raw)
    with pytest.raises(gate.PrecisionGateError) as err:
        build.build(spec_mod.load(path))
    msg = str(err.value)
    figure = float(msg.split("top1 ")[1].split(" ")[0])
    assert "variant tie_int8 (int8_static) missed its accuracy gate" in msg
    assert figure < 0.99 and "needs at least 0.99" in msg and "precision.variants[0].gate.top1" in msg
    for advice in ("exclude_nodes", "calibration data", "calibrate_method", "fp16"):
        assert advice in msg
    assert "nothing was published" in msg
    assert tree_digest(repo) == before  # the FP32 model untouched, no tie_int8 directory


def test_a_top1_threshold_of_one_fails_on_an_int8_model_and_names_its_figure(tmp_path):
    """Dynamic INT8 with one scale per tensor (per_channel: false) cannot keep every near tie: a
    gate of 1.0 fails, names the figure, and suggests per-channel scales first."""
    model = dict(NEAR_TIE_MODEL, precision={"variants": [{"type": "int8_dynamic", "per_channel": False,
                                                              "gate": {"top1": 1.0}}]})
    path, _ = make_project(tmp_path, [model], extra=NEAR_TIE)
    with pytest.raises(gate.PrecisionGateError, match=r"top1 0\.\d+ over 64 evaluation samples, needs at least 1 .*per_channel: true"):
        build.build(spec_mod.load(path))
    assert not (tmp_path / "repo").exists()


def test_variants_that_meet_their_gates_are_published_beside_fp32_and_a_rebuild_is_a_no_op(tmp_path):
    model = dict(LINEAR, source="{pkg}.nets:linear", precision={
        "variants": [{"type": "int8_static", "gate": {"cosine": 0.99}}, {"type": "fp16"}]})
    path, _ = make_project(tmp_path, [model])
    items = {i.name: i for i in build.build(spec_mod.load(path))}
    repo = tmp_path / "repo"
    record = json.loads((repo / "lin_int8" / "1" / "build.json").read_text())
    g = record["precision"]["gate"]
    assert g["metric"] == "cosine" and g["ok"] and 0.99 <= g["value"] <= 1.0 and g["samples"] == 64
    assert record["precision"]["data"]["calibration"] == "drawn: 64 samples"
    assert items["lin_fp16"].record["precision"]["gate"]["metric"] == "top1"  # [3] scores: a classifier
    # published as their own models, with the files Triton loads
    for name in ("lin", "lin_torchscript", "lin_int8", "lin_fp16"):
        assert (repo / name / "config.pbtxt").is_file()
    import onnx

    ops = {n.op_type for n in onnx.load(str(repo / "lin_int8" / "1" / "model.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format
    # only the opsets its nodes use: an unused ai.onnx.ml 5 import fails older Tritons' onnxruntime
    int8 = onnx.load(str(repo / "lin_int8" / "1" / "model.onnx"))
    assert {o.domain for o in int8.opset_import} <= {"", "ai.onnx"} | {n.domain for n in int8.graph.node}
    from tritonctl import compat

    assert [f.message for f in compat.problems_for(repo, "24.04") if f.model == "lin_int8"] == []
    fp16_inits = {i.data_type for i in onnx.load(str(repo / "lin_fp16" / "1" / "model.onnx")).graph.initializer}
    assert onnx.TensorProto.FLOAT16 in fp16_inits

    again = build.build(spec_mod.load(path))
    assert all(i.version is None and not i.changes for i in again)


def test_a_bad_calibration_file_fails_the_build_before_anything_is_published(tmp_path):
    model = dict(LINEAR, source="{pkg}.nets:linear", precision={"calibration": "calib.npz", "variants": [{"type": "int8_static"}]})
    path, _ = make_project(tmp_path, [model])
    np.savez(tmp_path / "calib.npz", input=np.zeros((4, 4), np.float32))
    with pytest.raises(SpecError, match=r"calib.npz: its arrays are \['input'\] but the model's inputs are \['x'\]"):
        build.build(spec_mod.load(path))
    assert not (tmp_path / "repo").exists()


def test_a_dry_run_names_a_missing_calibration_file_instead_of_planning_a_variant_that_will_fail(tmp_path):
    model = dict(LINEAR, source="{pkg}.nets:linear", precision={"calibration": "missing.npz",
                                                                "variants": [{"type": "int8_static"}]})
    path, _ = make_project(tmp_path, [model])
    with pytest.raises(SpecError, match=r"precision.calibration .*missing.npz does not exist"):
        build.build(spec_mod.load(path), dry_run=True)
    assert not (tmp_path / "repo").exists()


def test_a_model_without_a_batch_dim_is_calibrated_and_graded_one_sample_at_a_time(tmp_path):
    model = dict(LINEAR, source="{pkg}.nets:linear", max_batch_size=0, formats=["onnx"],
                 precision={"samples": 32, "variants": [{"type": "int8_static", "gate": {"cosine": 0.99}}]})
    path, _ = make_project(tmp_path, [model])
    items = {i.name: i for i in build.build(spec_mod.load(path))}
    g = items["lin_int8"].record["precision"]["gate"]
    assert g["metric"] == "cosine" and g["samples"] == 32 and 0.99 <= g["value"] < 1
    cfg = config.parse((tmp_path / "repo" / "lin_int8" / "config.pbtxt").read_text())
    assert cfg.max_batch_size == 0 and list(cfg.input[0].dims) == [4]


def test_a_relative_error_gate_catches_outputs_clipped_by_too_few_calibration_samples(tmp_path):
    """Static INT8 quantizes the outputs too, to the range seen while calibrating: 16 drawn samples
    leave larger outputs clipped (the mean cosine stays high, the relative error does not)."""
    model = dict(LINEAR, source="{pkg}.nets:linear", formats=["onnx"],
                 precision={"samples": 16, "variants": [{"type": "int8_static", "gate": {"rel_error": 0.05}}]})
    path, _ = make_project(tmp_path, [model])
    with pytest.raises(gate.PrecisionGateError) as err:
        build.build(spec_mod.load(path))
    msg = str(err.value)
    assert float(msg.split("rel_error ")[1].split(" ")[0]) > 0.05 and "needs at most 0.05" in msg
    assert "more and real calibration data" in msg


def test_drop_unused_opsets_keeps_a_domain_used_only_inside_a_subgraph(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from tritonctl.precision.convert import drop_unused_opsets

    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    then_g = helper.make_graph([helper.make_node("Custom", ["x"], ["t"], domain="com.example")], "then", [], [
        helper.make_tensor_value_info("t", TensorProto.FLOAT, [1])])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [
        helper.make_tensor_value_info("e", TensorProto.FLOAT, [1])])
    graph = helper.make_graph(
        [helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=else_g)], "g",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, []), helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1),
                                                    helper.make_opsetid("ai.onnx.ml", 5)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    drop_unused_opsets(path)
    assert {o.domain for o in onnx.load(str(path)).opset_import} == {"", "com.example"}
