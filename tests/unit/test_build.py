"""tritonctl build: exporters, the parity gate, the atomic writer, and every bad-input path."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tritonctl import build, parity, repository, spec as spec_mod
from tritonctl.errors import ExportError, ShapeError, SpecError, ToleranceError

from buildkit import LINEAR, fresh_eager_outputs, make_project, served_outputs, tree_digest

X = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)


def load(path):
    return spec_mod.load(path)


@pytest.fixture
def project(tmp_path):
    path, pkg = make_project(tmp_path)
    return path, pkg


def test_a_cold_build_exports_both_formats_and_proves_them(project):
    path, _ = project
    spec = load(path)
    items = build.build(spec)
    repo = spec.resolve(spec.repository)
    assert (repo / "lin" / "1" / "model.onnx").is_file()
    assert (repo / "lin_torchscript" / "1" / "model.pt").is_file()
    record = json.loads((repo / "lin" / "1" / "build.json").read_text())
    assert record["parity"]["ok"] is True
    out = record["parity"]["outputs"][0]
    assert out["name"] == "y" and out["max_abs"] <= out["atol"] and out["atol"] == 1e-4
    # batch sizes 1, 2 and max_batch_size (4)
    assert [c.split(",")[0] for c in record["parity"]["cases"]] == ["batch 1", "batch 2", "batch 4"]
    assert {i.name: i.changes for i in items} == {"lin": ["new model, version 1"], "lin_torchscript": ["new model, version 1"]}


def test_a_rebuild_with_nothing_changed_writes_nothing(project):
    path, _ = project
    spec = load(path)
    build.build(spec)
    repo = spec.resolve(spec.repository)
    before = tree_digest(repo)
    mtimes = {p: p.stat().st_mtime_ns for p in repo.rglob("*")}
    items = build.build(load(path))
    assert all(i.action == "unchanged" and not i.changes for i in items)
    assert tree_digest(repo) == before
    assert {p: p.stat().st_mtime_ns for p in repo.rglob("*")} == mtimes


def test_a_changed_model_becomes_a_new_version_and_the_old_is_pruned(project):
    path, pkg = project
    build.build(load(path))
    nets = path.parent / pkg / "nets.py"
    nets.write_text(nets.read_text().replace("nn.Linear(4, 3)", "nn.Linear(4, 3, bias=False)"))
    repo = path.parent / "repo"
    v1 = served_outputs(repo, "lin", 1, X)
    items = build.build(load(path))  # the same process: nets.py was imported by the first build
    assert repository.versions(repo / "lin") == [2]
    assert "new version 2" in items[0].changes and "pruned v1" in items[0].changes
    # version 2 is exported from the edited code, not from the module the first build cached
    v2 = served_outputs(repo, "lin", 2, X)
    np.testing.assert_allclose(v2, fresh_eager_outputs(nets, "linear", X), atol=1e-5)
    assert not np.allclose(v1, v2, atol=1e-3)
    np.testing.assert_allclose(served_outputs(repo, "lin_torchscript", 2, X), v2, atol=1e-5)


def test_latest_two_keeps_two_versions_side_by_side(tmp_path):
    path, pkg = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:linear", formats=["onnx"], version_policy={"latest": 2})])
    build.build(load(path))
    nets = path.parent / pkg / "nets.py"
    nets.write_text(nets.read_text().replace("torch.manual_seed(seed)", "torch.manual_seed(seed + 1)"))
    build.build(load(path))
    repo = tmp_path / "repo"
    assert repository.versions(repo / "lin") == [1, 2]
    v1, v2 = served_outputs(repo, "lin", 1, X), served_outputs(repo, "lin", 2, X)
    np.testing.assert_allclose(v1, fresh_eager_outputs(nets, "linear", X, seed=-1), atol=1e-5)  # seed + 1 == 0
    np.testing.assert_allclose(v2, fresh_eager_outputs(nets, "linear", X), atol=1e-5)
    assert not np.allclose(v1, v2, atol=1e-3)


def test_a_config_only_change_rewrites_config_without_a_new_version(project):
    path, _ = project
    build.build(load(path))
    text = path.read_text().replace("max_batch_size: 4", "max_batch_size: 4\n  dynamic_batching: {max_queue_delay_microseconds: 500}")
    path.write_text(text)
    items = build.build(load(path))
    assert items[0].changes == ["config updated"]
    assert repository.versions(path.parent / "repo" / "lin") == [1]
    assert "max_queue_delay_microseconds: 500" in (path.parent / "repo" / "lin" / "config.pbtxt").read_text()


def test_dry_run_plans_without_writing(project):
    path, _ = project
    items = build.build(load(path), dry_run=True)
    assert [i.action for i in items] == ["export v1", "export v1"]
    assert not (path.parent / "repo").exists()


def test_the_parity_gate_catches_a_traced_export_of_control_flow(tmp_path):
    m = dict(LINEAR, name="branchy", source="{pkg}.nets:branchy", formats=["torchscript"],
             inputs=[{"name": "x", "dtype": "float32", "shape": [4]}], outputs=[{"name": "y", "dtype": "float32", "shape": [4]}])
    path, _ = make_project(tmp_path, [m])
    with pytest.raises(ToleranceError) as exc:
        build.build(load(path))
    msg = str(exc.value)
    assert "model 'branchy'" in msg and "torchscript" in msg and "method: script" in msg and "nothing was published" in msg
    assert tree_digest(tmp_path / "repo") == {}


def test_the_same_control_flow_passes_when_scripted(tmp_path):
    m = dict(LINEAR, name="branchy", source="{pkg}.nets:branchy", formats=["torchscript"], torchscript={"method": "script"},
             inputs=[{"name": "x", "dtype": "float32", "shape": [4]}], outputs=[{"name": "y", "dtype": "float32", "shape": [4]}])
    path, _ = make_project(tmp_path, [m])
    build.build(load(path))
    assert (tmp_path / "repo" / "branchy" / "1" / "model.pt").is_file()


def test_the_parity_gate_rejects_a_deliberately_wrong_runner():
    m = spec_mod.ModelSpec.model_validate(dict(LINEAR, source="a.b:c"))
    weights = np.random.default_rng(0).standard_normal((4, 3)).astype("float32")

    def eager(inputs):
        return [inputs[0] @ weights]

    def off_by_a_little(inputs):
        return [inputs[0] @ weights + 1e-2]

    reports = parity.run(m, eager, {"onnx": eager})
    assert reports[0].ok and reports[0].outputs[0].max_abs == 0
    with pytest.raises(ToleranceError, match=r"onnx output 'y' differs from eager PyTorch: max abs 0.01"):
        parity.run(m, eager, {"onnx": off_by_a_little})


def test_parity_covers_min_opt_max_of_dynamic_dims_and_int_inputs(tmp_path):
    seq = {"name": "seq", "source": "{pkg}.nets:seq", "formats": ["onnx", "torchscript"], "max_batch_size": 4,
           "inputs": [
               {"name": "ids", "dtype": "int64", "shape": [-1], "range": {"min": [1], "opt": [5], "max": [9]}, "values": [0, 50]},
               {"name": "mask", "dtype": "int64", "shape": [-1], "range": {"min": [1], "opt": [5], "max": [9]}, "values": [0, 2]}],
           "outputs": [{"name": "logits", "dtype": "float32", "shape": [2]}]}
    path, _ = make_project(tmp_path, [seq])
    build.build(load(path))
    record = json.loads((tmp_path / "repo" / "seq" / "1" / "build.json").read_text())
    shapes = {c.split("shapes ")[1] for c in record["parity"]["cases"]}
    assert shapes == {f"[[{b}, {s}], [{b}, {s}]]" for b in (1, 2, 4) for s in (1, 5, 9)}


def test_a_declared_shape_the_model_contradicts_is_named(tmp_path):
    m = dict(LINEAR, source="{pkg}.nets:linear", outputs=[{"name": "y", "dtype": "float32", "shape": [5]}])
    path, _ = make_project(tmp_path, [m])
    with pytest.raises(ShapeError) as exc:
        build.build(load(path))
    assert "model 'lin'" in str(exc.value) and "outputs.y.shape is [5]" in str(exc.value) and "[3]" in str(exc.value)
    assert not (tmp_path / "repo").exists()


def test_a_source_that_does_not_import_is_named(tmp_path):
    path, _ = make_project(tmp_path, [dict(LINEAR, source="{pkg}.missing:linear")])
    with pytest.raises(ExportError, match=r"model 'lin': source.callable '.*missing:linear' does not import"):
        build.build(load(path))


def test_a_source_function_that_raises_is_named(tmp_path):
    path, _ = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:broken")])
    with pytest.raises(ExportError, match=r"model 'lin': source.callable .* raised RuntimeError: weights missing"):
        build.build(load(path))


def test_a_model_that_fails_to_script_is_named_with_the_alternative(tmp_path):
    path, _ = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:unscriptable", formats=["torchscript"],
                                           torchscript={"method": "script"}, outputs=[{"name": "y", "dtype": "float32", "shape": [4]}])])
    with pytest.raises(ExportError) as exc:
        build.build(load(path))
    assert "model 'lin': torchscript.method script failed" in str(exc.value) and "method: trace" in str(exc.value)
    assert not (tmp_path / "repo").exists()


def test_an_op_onnx_cannot_export_is_named(tmp_path):
    path, _ = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:eig", formats=["onnx"],
                                           outputs=[{"name": "y", "dtype": "float32", "shape": [4]}])])
    with pytest.raises(ExportError) as exc:
        build.build(load(path))
    assert "model 'lin': ONNX export failed" in str(exc.value) and "linalg_eigvals" in str(exc.value)


def test_a_failure_in_a_later_model_leaves_the_published_repository_exactly_as_it_was(tmp_path):
    good = dict(LINEAR, source="{pkg}.nets:linear")
    path, pkg = make_project(tmp_path, [good])
    build.build(load(path))
    before = tree_digest(tmp_path / "repo")
    # Change the good model (a new version is due) and add a model that fails its gate.
    nets = tmp_path / pkg / "nets.py"
    nets.write_text(nets.read_text().replace("torch.manual_seed(seed)", "torch.manual_seed(seed + 7)"))
    spec_text = path.read_text() + (
        "- name: bad\n  source: " + pkg + ".nets:linear\n  inputs: [{name: x, dtype: float32, shape: [4]}]\n"
        "  outputs: [{name: y, dtype: float32, shape: [9]}]\n"
    )
    path.write_text(spec_text)
    with pytest.raises(ShapeError):
        build.build(load(path))
    assert tree_digest(tmp_path / "repo") == before
    assert not list(tmp_path.glob(".repo.staging-*"))


def test_a_crash_while_moving_versions_into_place_leaves_no_half_model(project, monkeypatch):
    path, pkg = project
    build.build(load(path))
    before = tree_digest(path.parent / "repo")
    nets = path.parent / pkg / "nets.py"
    nets.write_text(nets.read_text().replace("torch.manual_seed(seed)", "torch.manual_seed(seed + 3)"))
    real_rename = os.rename
    calls = []

    def failing_rename(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the second model's version move fails mid-publish
            raise OSError("disk went away")
        return real_rename(src, dst)

    monkeypatch.setattr(repository.os, "rename", failing_rename)
    with pytest.raises(Exception, match="disk went away"):
        build.build(load(path))
    after = tree_digest(path.parent / "repo")
    # Each model directory is either entirely old or entirely new: never a version without its config.
    for model in ("lin", "lin_torchscript"):
        files = {k for k in after if k.startswith(model + "/")}
        assert f"{model}/config.pbtxt" in files
        assert any(k.endswith(("model.onnx", "model.pt")) for k in files)
    assert after["lin_torchscript/1/model.pt"] == before["lin_torchscript/1/model.pt"]


def test_a_missing_labels_file_fails_before_anything_is_exported(tmp_path):
    path, _ = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:linear", labels="nope.txt")])
    with pytest.raises(ExportError, match=r"model 'lin': labels .*nope.txt does not exist"):
        build.build(load(path))
    assert not (tmp_path / "repo").exists()


def test_unknown_spec_field_reaches_the_build_as_a_spec_error(tmp_path):
    path, _ = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:linear", formts=["onnx"])])
    with pytest.raises(SpecError, match="model 'lin': formts: unknown field"):
        load(path)


def test_a_build_for_an_older_triton_release_refuses_an_opset_it_cannot_load(tmp_path):
    path, _ = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:linear", formats=["onnx"], onnx={"opset": 21})])
    with pytest.raises(ExportError) as exc:
        build.build(load(path), triton_release="24.04")
    assert "do not fit Triton 24.04" in str(exc.value) and "opset" in str(exc.value)
    assert not (tmp_path / "repo").exists()
    build.build(load(path), triton_release="24.10")  # 24.10's ONNX Runtime loads opset 21
    assert (tmp_path / "repo" / "lin" / "1" / "model.onnx").exists()


def test_an_unknown_triton_release_is_refused_before_any_work(tmp_path):
    path, _ = make_project(tmp_path)
    with pytest.raises(Exception, match="known"):
        build.build(load(path), triton_release="19.01")


def test_only_changes_to_the_modules_a_model_imports_make_a_new_version(tmp_path):
    extra = "\nfrom .sizes import OUT\n\n\ndef sized():\n    torch.manual_seed(0)\n    return nn.Linear(4, OUT)\n"
    path, pkg = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:sized", formats=["onnx"])], extra=extra)
    (tmp_path / pkg / "sizes.py").write_text("OUT = 3\n")
    (tmp_path / pkg / "unrelated.py").write_text("X = 1\n")
    build.build(load(path))
    (tmp_path / pkg / "unrelated.py").write_text("X = 2\n")
    assert [i.action for i in build.build(load(path), dry_run=True)] == ["unchanged"]
    (tmp_path / pkg / "sizes.py").write_text("OUT = 3  # same value, new content\n")
    assert [i.action for i in build.build(load(path), dry_run=True)] == ["export v2"]


def test_loading_projects_leaves_sys_path_as_it_was(tmp_path):
    import sys

    before = list(sys.path)
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        path, _ = make_project(tmp_path / sub, [dict(LINEAR, source="{pkg}.nets:linear", formats=["onnx"])])
        build.build(load(path), dry_run=False)
    assert sys.path == before


def test_a_fresh_import_drops_only_the_modules_the_project_itself_provides():
    """The repository root holds .venv and tools/: torch and tritonctl live under it, yet only
    `examples` (ROOT/examples/) may be forgotten before a model is imported again."""
    import sys
    from pathlib import Path

    import torch  # noqa: F401

    from tritonctl import sources

    root = Path(__file__).resolve().parents[2]
    with sources._project_on_path(root):
        __import__("examples.linear")
    before = set(sys.modules)
    sources._forget_project_modules(root)
    dropped = before - set(sys.modules)
    assert dropped and all(n == "examples" or n.startswith("examples.") for n in dropped), sorted(dropped)[:5]


def test_planning_reads_each_source_file_once_for_all_the_formats_of_a_model(project, monkeypatch):
    """A checkpoint can be gigabytes: a model published as ONNX and TorchScript hashes it in one read."""
    path, _ = project
    spec = load(path)
    reads: list[str] = []
    real = type(path).read_bytes
    monkeypatch.setattr(type(path), "read_bytes", lambda self: reads.append(self.name) or real(self))
    items = build.plan(spec, spec.resolve(spec.repository))
    assert [i.name for i in items] == ["lin", "lin_torchscript"]
    assert reads and len(reads) == len(set(reads)), reads
