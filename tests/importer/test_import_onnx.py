"""Whether an imported model is served as ONNX is decided by `tritonctl build`'s own ONNX export of
the entry the import writes (importer/onnx_check.py, in a subprocess): a model it exports gets
formats [onnx, torchscript]; one it cannot export is served as TorchScript, and the import says
why in the exporter's words. Real archives (torch-model-archiver), imported in this process; no
server is started."""

from __future__ import annotations

import pytest
import yaml

import ts_archives
from tritonctl import build, spec as spec_mod
from tritonctl.errors import ExportError
from tritonctl.importer import import_archives

SERVED_AS_TORCHSCRIPT = "torch.onnx does not export this model: it is served as TorchScript"


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    work = tmp_path_factory.mktemp("import-onnx")
    store = work / "store"
    archives = {"mnist": ts_archives.mnist(store, work), "pooled": ts_archives.pooled_digits(store, work)}
    project = work / "project"
    project.mkdir()
    spec_path = project / "models.yaml"
    results = {}
    for name, mar in archives.items():
        (results[name],) = import_archives(mar, spec_path, samples=ts_archives.DIGITS[:2])
    return {"results": results, "spec": spec_mod.load(spec_path), "project": project}


def test_a_model_the_build_exports_to_onnx_is_imported_with_onnx_and_torchscript(imported):
    r = imported["results"]["mnist"]
    assert r.split, r.reasons
    assert imported["spec"].model("mnist_model").formats == ["onnx", "torchscript"]
    assert not [line for line in r.unmapped if line.startswith(SERVED_AS_TORCHSCRIPT)], r.unmapped
    step = imported["spec"].model("mnist").steps[1]  # ONNX tensors are fed and read by name
    assert step.inputs == {"input0": "input0"} and step.outputs == {"output0": "output0"}


def test_a_model_torch_onnx_cannot_export_is_served_as_torchscript_with_the_exporters_reason(imported):
    r = imported["results"]["pooled"]
    assert r.split, r.reasons
    assert imported["spec"].model("pooled_model").formats == ["torchscript"]
    (line,) = [line for line in r.unmapped if line.startswith(SERVED_AS_TORCHSCRIPT)]
    # the first line of what torch.onnx raised, after the message users already knew
    assert "adaptive_avg_pool2d" in line and "output size that are not factor of input size" in line, line
    assert "\n" not in line
    step = imported["spec"].model("pooled").steps[1]  # TorchScript tensors are named by position
    assert step.inputs == {"input0__0": "input0"} and step.outputs == {"output0__0": "output0"}


def test_the_imported_project_builds_and_onnx_put_back_fails_the_build_with_the_imports_reason(imported, tmp_path):
    project = imported["project"]
    items = build.build(imported["spec"], tmp_path / "repository")
    assert {(i.name, i.fmt) for i in items} >= {("mnist_model", "onnx"), ("mnist_model_torchscript", "torchscript"),
                                                ("pooled_model", "torchscript")}
    # The import's decision is the build's: the pooled model's entry with onnx listed again fails
    # `tritonctl build` on the very error the import reported.
    raw = yaml.safe_load((project / "models.yaml").read_text())
    entry = next(m for m in raw["models"] if m["name"] == "pooled_model")
    (project / "onnx-again.yaml").write_text(yaml.safe_dump({"models": [dict(entry, formats=["onnx", "torchscript"])]}))
    with pytest.raises(ExportError) as failed:
        build.build(spec_mod.load(project / "onnx-again.yaml"), tmp_path / "onnx-again")
    (reason,) = [line for line in imported["results"]["pooled"].unmapped if line.startswith(SERVED_AS_TORCHSCRIPT)]
    cause = failed.value.__cause__
    assert f"{type(cause).__name__}: {str(cause).strip().splitlines()[0]}" in reason
