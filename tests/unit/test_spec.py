"""models.yaml validation: errors name the file, the model and the field."""

from pathlib import Path

import pytest
import yaml

from tritonctl import spec as spec_mod
from tritonctl.errors import SpecError

REPO_ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, models, **top):
    p = tmp_path / "models.yaml"
    p.write_text(yaml.safe_dump({"models": models, **top}, sort_keys=False))
    return p


def minimal(**over):
    m = {
        "name": "lin",
        "source": "pkg.mod:build",
        "inputs": [{"name": "x", "dtype": "float32", "shape": [4]}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [2]}],
    }
    m.update(over)
    return m


def error_of(tmp_path, models, **top) -> str:
    with pytest.raises(SpecError) as exc:
        spec_mod.load(write(tmp_path, models, **top))
    return str(exc.value)


def test_the_project_models_yaml_is_valid():
    spec = spec_mod.load(REPO_ROOT / "models.yaml")
    assert {m.name for m in spec.models} >= {"linear", "digits", "control_flow", "resnet18", "text_classifier", "digits_pipeline"}


def test_a_minimal_entry_gets_sensible_defaults(tmp_path):
    spec = spec_mod.load(write(tmp_path, [minimal()]))
    m = spec.models[0]
    assert m.formats == ["onnx"] and m.serve == "onnx"
    assert m.max_batch_size == 8 and m.dynamic_batching is True
    assert m.version_policy.latest == 1
    assert m.source.callable == "pkg.mod:build"
    assert spec.base_dir == tmp_path.resolve()


def test_an_unknown_field_is_named_with_its_model(tmp_path):
    msg = error_of(tmp_path, [minimal(max_batchsize=4)])
    assert "model 'lin'" in msg and "max_batchsize" in msg and "unknown field" in msg
    assert str(tmp_path / "models.yaml") in msg


def test_a_wrong_dtype_names_the_tensor_field_and_the_choices(tmp_path):
    msg = error_of(tmp_path, [minimal(inputs=[{"name": "x", "dtype": "float33", "shape": [4]}])])
    assert "model 'lin'" in msg and "inputs.0.dtype" in msg and "float32" in msg and "float33" in msg


def test_an_unknown_source_field_names_only_that_source_kind(tmp_path):
    msg = error_of(tmp_path, [minimal(source={"callable": "a:b", "kwrgs": {}})])
    assert "source.kwrgs" in msg and "checkpoint" not in msg


def test_a_source_without_a_known_key_lists_the_kinds(tmp_path):
    msg = error_of(tmp_path, [minimal(source={"weights": "x.pt"})])
    assert "source" in msg and "callable" in msg and "torchscript" in msg


def test_a_malformed_callable_is_refused(tmp_path):
    msg = error_of(tmp_path, [minimal(source="pkg.mod.build")])
    assert "module:function" in msg


def test_zero_and_negative_dims_are_refused_but_minus_one_is_dynamic(tmp_path):
    assert "dims must be positive or -1" in error_of(tmp_path, [minimal(inputs=[{"name": "x", "dtype": "float32", "shape": [0]}])])
    ok = spec_mod.load(write(tmp_path, [minimal(inputs=[{"name": "x", "dtype": "float32", "shape": [-1]}])]))
    assert ok.models[0].inputs[0].dynamic


def test_a_range_must_be_ordered_and_match_the_shape(tmp_path):
    bad = {"name": "x", "dtype": "int64", "shape": [-1], "range": {"min": [8], "opt": [4], "max": [16]}}
    assert "min <= opt <= max" in error_of(tmp_path, [minimal(inputs=[bad])])
    wrong_len = {"name": "x", "dtype": "int64", "shape": [-1, 4], "range": {"min": [1], "opt": [4], "max": [16]}}
    assert "same length" in error_of(tmp_path, [minimal(inputs=[wrong_len])]) or "range has" in error_of(
        tmp_path, [minimal(inputs=[wrong_len])]
    )


def test_preferred_batch_sizes_above_max_batch_size_are_refused(tmp_path):
    msg = error_of(tmp_path, [minimal(max_batch_size=4, dynamic_batching={"preferred_batch_size": [8]})])
    assert "preferred_batch_size [8] exceeds max_batch_size 4" in msg


def test_serve_must_be_one_of_the_formats(tmp_path):
    msg = error_of(tmp_path, [minimal(formats=["onnx"], serve="torchscript")])
    assert "serve: torchscript is not among formats" in msg


def test_two_models_publishing_the_same_name_are_refused(tmp_path):
    msg = error_of(tmp_path, [minimal(formats=["onnx", "torchscript"]), minimal(name="lin_torchscript")])
    assert "both publish a model named 'lin_torchscript'" in msg


def test_an_ensemble_step_must_name_a_model_of_the_file(tmp_path):
    ens = {
        "name": "pipe", "kind": "ensemble",
        "inputs": [{"name": "x", "dtype": "float32", "shape": [4]}],
        "outputs": [{"name": "y", "dtype": "float32", "shape": [2]}],
        "steps": [{"model": "nope", "inputs": {"x": "x"}, "outputs": {"y": "y"}}],
    }
    msg = error_of(tmp_path, [minimal(), ens])
    assert "steps[0].model 'nope'" in msg and "lin" in msg


def test_version_policy_needs_exactly_one_choice(tmp_path):
    msg = error_of(tmp_path, [minimal(version_policy={"latest": 2, "all": True})])
    assert "exactly one of" in msg


def test_string_tensors_are_only_for_python_and_ensemble_models(tmp_path):
    msg = error_of(tmp_path, [minimal(inputs=[{"name": "x", "dtype": "string", "shape": [1]}])])
    assert "string tensors" in msg


def test_missing_file_and_bad_yaml_are_reported_with_the_path(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        spec_mod.load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: [\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        spec_mod.load(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("foo: 1\n")
    with pytest.raises(SpecError, match="`models:` list"):
        spec_mod.load(empty)
