"""tritonctl check: one broken repository per rule, built from a clean one made once per module."""

from __future__ import annotations

import shutil
import zipfile

import pytest
from tritonclient.grpc import model_config_pb2 as mc

from check_fixtures import (build_clean_repo, copy_repo, edit_config, onnx_model, tensor, torchscript_model,
                            write_config)
from tritonctl.check import check_repository
from tritonctl.errors import CheckError


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return build_clean_repo(tmp_path_factory.mktemp("clean"))


@pytest.fixture
def repo(clean, tmp_path):
    return copy_repo(clean, tmp_path)


def only(report, rule, severity="error"):
    """The findings of one rule; asserts there is at least one."""
    found = [f for f in report.findings if f.rule == rule and f.severity == severity]
    assert found, f"no {severity} {rule}; got:\n{report.to_text()}"
    return found


def test_a_clean_repository_has_no_findings(clean):
    report = check_repository(clean)
    assert report.findings == [], report.to_text()
    assert report.models == ["ens", "lin_onnx", "lin_ts", "pyecho"]


def test_a_missing_repository_is_one_clear_error(tmp_path):
    with pytest.raises(CheckError, match="does not exist"):
        check_repository(tmp_path / "nope")


# ---------------------------------------------------------------- layout


def test_missing_config_names_the_file_and_the_fix(repo):
    (repo / "lin_onnx" / "config.pbtxt").unlink()
    (f,) = only(check_repository(repo), "layout.config-missing")
    assert f.file.endswith("lin_onnx/config.pbtxt") and "model.onnx" in f.message
    assert "tritonctl build" in f.fix


def test_a_non_numeric_version_directory_is_a_warning(repo):
    (repo / "lin_onnx" / "v2").mkdir()
    (f,) = only(check_repository(repo), "layout.version-dir", "warning")
    assert f.file.endswith("lin_onnx/v2") and "rename it to a number" in f.fix


def test_a_model_without_version_directories_is_an_error(repo):
    shutil.rmtree(repo / "pyecho" / "1")
    (f,) = only(check_repository(repo), "layout.no-version")
    assert f.file.endswith("pyecho") and "pyecho/1" in f.fix


def test_a_missing_model_file_names_the_default_filename(repo):
    (repo / "lin_ts" / "1" / "model.pt").rename(repo / "lin_ts" / "1" / "weights.pt")
    (f,) = only(check_repository(repo), "layout.model-file")
    assert f.file.endswith("lin_ts/1/model.pt") and "weights.pt" in f.message
    assert "default_model_filename" in f.fix


def test_default_model_filename_is_honoured(repo):
    (repo / "lin_ts" / "1" / "model.pt").rename(repo / "lin_ts" / "1" / "weights.pt")
    edit_config(repo / "lin_ts", lambda c: setattr(c, "default_model_filename", "weights.pt"))
    assert check_repository(repo).errors == []


def test_cc_model_filenames_are_honoured(repo):
    (repo / "lin_ts" / "1" / "model.pt").rename(repo / "lin_ts" / "1" / "sm80.pt")
    edit_config(repo / "lin_ts", lambda c: c.cc_model_filenames.__setitem__("8.0", "sm80.pt"))
    assert check_repository(repo).errors == []


def test_a_model_file_of_another_backend_is_named_in_the_fix(repo):
    shutil.copy(repo / "lin_onnx" / "1" / "model.onnx", repo / "lin_ts" / "1" / "model.onnx")
    (repo / "lin_ts" / "1" / "model.pt").unlink()
    (f,) = only(check_repository(repo), "layout.model-file")
    assert "model.onnx, a onnxruntime model" in f.message


def test_a_stray_file_at_the_top_is_a_warning(repo):
    (repo / "notes.txt").write_text("x")
    (f,) = only(check_repository(repo), "layout.stray-file", "warning")
    assert f.file.endswith("notes.txt")


# ---------------------------------------------------------------- config


def test_a_parse_error_names_file_and_line(repo):
    (repo / "pyecho" / "config.pbtxt").write_text('name: "pyecho"\nbackend: "python"\nmax_batch_sise: 0\n')
    (f,) = only(check_repository(repo), "config.parse")
    assert f.file.endswith("pyecho/config.pbtxt:3:1") and "max_batch_sise" in f.message
    assert "model_config.proto" in f.fix


def test_two_schedulers_are_refused_by_the_proto_oneof(repo):
    text = (repo / "lin_onnx" / "config.pbtxt").read_text() + "sequence_batching { }\n"
    (repo / "lin_onnx" / "config.pbtxt").write_text(text)
    (f,) = only(check_repository(repo), "config.parse")
    assert "lin_onnx/config.pbtxt:" in f.file and "one scheduler" in f.fix


def test_a_config_name_unlike_its_directory_is_an_error(repo):
    edit_config(repo / "lin_onnx", lambda c: setattr(c, "name", "linear"))
    (f,) = only(check_repository(repo), "config.name")
    assert f.file.endswith("lin_onnx/config.pbtxt") and 'name: "lin_onnx"' in f.fix


def test_no_platform_nor_backend_is_an_error(repo):
    edit_config(repo / "pyecho", lambda c: setattr(c, "backend", ""))
    (f,) = only(check_repository(repo), "config.platform")
    assert "pyecho/config.pbtxt" in f.file and "set platform" in f.fix


def test_platform_and_backend_that_disagree_are_an_error(repo):
    edit_config(repo / "lin_onnx", lambda c: setattr(c, "backend", "pytorch"))
    (f,) = only(check_repository(repo), "config.platform")
    assert 'backend "onnxruntime"' in f.fix


def test_preferred_batch_size_above_max_batch_size_is_an_error(repo):
    edit_config(repo / "lin_onnx", lambda c: c.dynamic_batching.preferred_batch_size.append(16))
    (f,) = only(check_repository(repo), "config.scheduling")
    assert "[16]" in f.message and "<= 8" in f.fix


def test_dynamic_batching_without_batching_is_an_error(repo):
    edit_config(repo / "pyecho", lambda c: c.dynamic_batching.SetInParent())
    (f,) = only(check_repository(repo), "config.scheduling")
    assert "max_batch_size is 0" in f.message and "max_batch_size > 0" in f.fix


def test_a_version_policy_naming_a_missing_version_is_an_error(repo):
    edit_config(repo / "lin_onnx", lambda c: c.version_policy.specific.versions.extend([1, 3]))
    (f,) = only(check_repository(repo), "config.version-policy")
    assert "[3]" in f.message and "lin_onnx/3" in f.fix


def test_a_missing_label_file_is_an_error(repo):
    (repo / "lin_onnx" / "labels.txt").unlink()
    (f,) = only(check_repository(repo), "config.labels")
    assert f.file.endswith("lin_onnx/labels.txt") and "remove label_filename" in f.fix


def test_invalid_dims_and_duplicate_names_are_errors(repo):
    def bad(c):
        c.input.append(tensor(mc.ModelInput, "IN", [0, -2]))
    edit_config(repo / "pyecho", bad)
    found = only(check_repository(repo), "config.tensors")
    assert any("repeat" in f.message for f in found) and any("[0, -2]" in f.message for f in found)


def test_a_pytorch_model_must_declare_its_tensors(repo):
    edit_config(repo / "lin_ts", lambda c: c.ClearField("output"))
    found = only(check_repository(repo), "config.tensors")
    assert any("no output declared" in f.message for f in found)


# ---------------------------------------------------------------- ONNX


def test_an_input_name_not_in_the_onnx_graph_is_an_error(repo):
    edit_config(repo / "lin_onnx", lambda c: setattr(c.input[0], "name", "input"))
    found = only(check_repository(repo), "onnx.io")
    assert any("'input' is not a graph input" in f.message and "['x']" in f.fix for f in found)
    assert any("needs inputs ['x']" in f.message for f in found)


def test_a_dtype_unlike_the_onnx_graph_is_an_error(repo):
    edit_config(repo / "lin_onnx", lambda c: setattr(c.output[0], "data_type", mc.TYPE_FP16))
    (f,) = only(check_repository(repo), "onnx.dtype")
    assert "TYPE_FP16" in f.message and "data_type: TYPE_FP32" in f.fix and "model.onnx" in f.message


def test_dims_unlike_the_onnx_graph_are_an_error(repo):
    edit_config(repo / "lin_onnx", lambda c: c.input[0].dims.__setitem__(0, 5))
    (f,) = only(check_repository(repo), "onnx.shape")
    assert "dim 0 is 5" in f.message and "dims: [4]" in f.fix


def test_a_config_that_counts_the_batch_dim_twice_is_an_error(repo):
    edit_config(repo / "lin_onnx", lambda c: c.input[0].dims.insert(0, -1))
    (f,) = only(check_repository(repo), "onnx.shape")
    assert "dims: [4]" in f.fix and "batch dim is implied" in f.fix


def test_a_fixed_onnx_batch_dim_with_batching_is_an_error(repo):
    onnx_model(repo / "lin_onnx" / "1" / "model.onnx", batch=1)
    found = only(check_repository(repo), "onnx.batch-dim")
    assert "fixed first dim 1" in found[0].message and "dynamic_axes" in found[0].fix


def test_a_fixed_batch_dim_is_fine_without_batching(repo):
    onnx_model(repo / "lin_onnx" / "1" / "model.onnx", batch=1)

    def unbatched(c):
        c.max_batch_size = 0
        c.ClearField("dynamic_batching")
        c.input[0].dims[:] = [1, 4]
        c.output[0].dims[:] = [1, 2]
    edit_config(repo / "lin_onnx", unbatched)
    report = check_repository(repo)
    assert [f for f in report.errors if f.model == "lin_onnx"] == []
    assert [f.rule for f in report.errors] == ["ensemble.batching"]  # the ensemble still batches 8


# ---------------------------------------------------------------- TorchScript


def test_torchscript_inputs_must_be_forward_args_or_indexed(repo):
    edit_config(repo / "lin_ts", lambda c: setattr(c.input[0], "name", "features"))
    (f,) = only(check_repository(repo), "torchscript.input-names")
    assert "lin_ts/config.pbtxt" in f.file and "['x']" in f.fix and "features__0" in f.fix


def test_torchscript_inputs_may_be_forward_argument_names(repo):
    edit_config(repo / "lin_ts", lambda c: setattr(c.input[0], "name", "x"))
    def rename(c):
        for s in c.ensemble_scheduling.step:
            if s.model_name == "lin_ts":
                s.input_map["x"] = s.input_map.pop("INPUT__0")
    edit_config(repo / "ens", rename)
    assert check_repository(repo).errors == []


def test_torchscript_outputs_must_be_indexed(repo):
    edit_config(repo / "lin_ts", lambda c: setattr(c.output[0], "name", "logits"))
    (f,) = only(check_repository(repo), "torchscript.output-names")
    assert "logits__0" in f.fix


def test_more_inputs_than_forward_arguments_is_an_error(repo):
    edit_config(repo / "lin_ts", lambda c: c.input.append(tensor(mc.ModelInput, "INPUT__1", [2])))
    (f,) = only(check_repository(repo), "torchscript.input-count")
    assert "forward() takes 1" in f.message


def test_a_torch_save_checkpoint_is_not_torchscript(repo):
    import torch

    torch.save({"w": torch.zeros(2)}, repo / "lin_ts" / "1" / "model.pt")
    (f,) = only(check_repository(repo), "torchscript.load")
    assert f.file.endswith("lin_ts/1/model.pt") and "torch.jit.save" in f.fix


# ---------------------------------------------------------------- ensembles


def test_an_ensemble_step_model_missing_from_the_repository(repo):
    shutil.rmtree(repo / "lin_ts")
    (f,) = only(check_repository(repo), "ensemble.step-model")
    assert "'lin_ts' is not in the repository" in f.message and "ens/config.pbtxt" in f.file


def test_an_ensemble_step_tensor_name_unknown_to_the_step_model(repo):
    def bad(c):
        s = c.ensemble_scheduling.step[1]
        s.input_map["INPUT__7"] = s.input_map.pop("INPUT__0")
    edit_config(repo / "ens", bad)
    (f,) = only(check_repository(repo), "ensemble.step-tensors")
    assert "'INPUT__7' is not an input of 'lin_ts'" in f.message and "INPUT__0" in f.fix


def test_an_ensemble_tensor_nobody_produces(repo):
    edit_config(repo / "ens", lambda c: c.ensemble_scheduling.step[1].input_map.__setitem__("INPUT__0", "midd"))
    found = only(check_repository(repo), "ensemble.tensors")
    assert any("consumes 'midd'" in f.message for f in found)
    assert any(f.rule == "ensemble.unused" and "'mid'" in f.message for f in check_repository(repo).warnings)


def test_an_ensemble_output_nobody_produces(repo):
    edit_config(repo / "ens", lambda c: c.output.append(tensor(mc.ModelOutput, "extra", [2])))
    (f,) = only(check_repository(repo), "ensemble.tensors")
    assert "'extra' is produced by no step" in f.message


def test_ensemble_dtypes_must_agree_along_each_edge(repo):
    edit_config(repo / "ens", lambda c: setattr(c.input[0], "data_type", mc.TYPE_INT64))
    (f,) = only(check_repository(repo), "ensemble.dtype")
    assert "TYPE_FP32" in f.message and "TYPE_INT64" in f.message


def test_an_ensemble_cycle_is_an_error(repo):
    def loop(c):
        c.ensemble_scheduling.step[0].input_map["x"] = "out"  # step0 needs step1's output
    edit_config(repo / "ens", loop)
    found = only(check_repository(repo), "ensemble.cycle")
    assert "step[0] (lin_onnx)" in found[0].message and "DAG" in found[0].fix


def test_an_ensemble_batching_more_than_its_steps(repo):
    edit_config(repo / "ens", lambda c: setattr(c, "max_batch_size", 16))
    found = only(check_repository(repo), "ensemble.batching")
    assert "<= 8" in found[0].fix


def test_json_report_is_machine_readable(repo):
    import json

    edit_config(repo / "lin_onnx", lambda c: setattr(c, "name", "linear"))
    data = json.loads(check_repository(repo).to_json())
    assert data["errors"] >= 1 and {"file", "severity", "message", "fix", "rule", "model"} <= set(data["findings"][0])


def test_vendored_requirements_built_for_another_python_than_the_releases_are_a_warning(repo):
    # build.json (tritonctl build's record) says which Python the vendored packages were built for.
    (repo / "pyecho" / "1" / "build.json").write_text('{"vendored_for_python": ["3.10"]}')
    (f,) = only(check_repository(repo, release="24.11"), "python.vendored-python", "warning")  # Python 3.12
    assert f.model == "pyecho" and "Python 3.10" in f.message and "3.12" in f.message
    assert "--triton-release 24.11" in f.fix
    same = check_repository(repo, release="24.04")  # Python 3.10: what they were built for
    assert not [f for f in same.findings if f.rule == "python.vendored-python"], same.to_text()


def test_an_unreadable_build_record_is_no_vendored_python_finding(repo):
    (repo / "pyecho" / "1" / "build.json").write_text("{not json")
    report = check_repository(repo, release="24.11")
    assert not [f for f in report.findings if f.rule == "python.vendored-python"], report.to_text()
