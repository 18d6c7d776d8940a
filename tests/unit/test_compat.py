"""The Triton release table stays consistent, and model files are judged against a release."""

from __future__ import annotations

import json
import zipfile

import onnx.helper
import pytest

from check_fixtures import onnx_model, torchscript_model
from tritonctl import compat
from tritonctl.errors import CheckError

T = compat.table()
RELEASES = T["releases"]
ORT = T["onnxruntime"]


def vt(v):
    return compat._version_tuple(v)


# ---------------------------------------------------------------- the table


def test_releases_are_sorted_and_unique():
    names = [r["release"] for r in RELEASES]
    assert names == sorted(names, key=vt) and len(set(names)) == len(names)


@pytest.mark.parametrize("column", ["triton", "onnxruntime", "libtorch", "max_onnx_opset", "max_ir_version", "upstream"])
def test_versions_never_go_down_from_one_release_to_the_next(column):
    values = [vt(r[column]) if isinstance(r[column], str) else (r[column],) for r in RELEASES]
    assert values == sorted(values), f"{column} decreases somewhere: {values}"


def test_tensorrt_never_goes_down_where_known():
    known = [vt(r["tensorrt"]) for r in RELEASES if r["tensorrt"] is not None]
    assert known == sorted(known)


def test_each_release_opset_and_ir_agree_with_its_onnxruntime_row():
    for r in RELEASES:
        row = compat.ort_row(r["onnxruntime"])
        assert row is not None, f"{r['release']}: ONNX Runtime {r['onnxruntime']} has no row in `onnxruntime:`"
        assert (r["max_onnx_opset"], r["max_ir_version"]) == (row["max_opset"], row["max_ir_version"]), r["release"]


def test_onnxruntime_rows_agree_with_the_onnx_release_they_implement():
    table = {v[0]: v for v in onnx.helper.VERSION_TABLE}  # (release, ir, ai.onnx, ai.onnx.ml, training)
    versions = [vt(r["version"]) for r in ORT]
    assert versions == sorted(versions)
    for row in ORT:
        onnx_release = table[str(row["onnx"])]
        assert row["max_opset"] == onnx_release[2], row
        assert row["max_ir_version"] == onnx_release[1], row
        assert row["max_ml_opset"] <= onnx_release[3], row


def test_every_row_names_its_sources_and_how_sure_it_is():
    keys = set(T["sources"])
    for r in RELEASES:
        assert r["sources"], r["release"]
        assert all(s.split(":")[0] in keys for s in r["sources"]), r
        assert r["libtorch_status"] in {"verified", "derived", "assumed"}, r
    for row in ORT:
        assert row["status"] in {"verified", "assumed"} and row["source"] in keys, row


@pytest.mark.parametrize("row", RELEASES, ids=[r["release"] for r in RELEASES])
def test_release_info_reads_each_row_of_the_table_and_resolves_its_sources(row):
    """release_info is the table's reader: every field comes from the row, the image from the tag,
    the `{triton}` placeholders of source links from the row's own Triton version.
    (That the local Triton is in the table is proven against the running server: test_serve.py.)"""
    info = compat.release_info(row["release"])
    assert (info.release, info.triton, info.onnxruntime) == (row["release"], row["triton"], row["onnxruntime"])
    assert (info.max_onnx_opset, info.max_ir_version) == (row["max_onnx_opset"], row["max_ir_version"])
    assert info.image == f"nvcr.io/nvidia/tritonserver:{row['release']}-py3"
    assert len(info.sources) == len(row["sources"]) and not any("{" in s for s in info.sources)
    assert compat.release_info(row["triton"]).release == row["release"]


@pytest.mark.parametrize("name", ["25.01", "25.01-py3", "nvcr.io/nvidia/tritonserver:25.01-py3", "2.54.0"])
def test_release_names_image_tags_and_triton_versions_resolve(name):
    assert compat.release_info(name).release == "25.01"


def test_an_unknown_release_is_refused_with_the_known_ones():
    with pytest.raises(CheckError, match=r"'30\.01' is not in triton_releases.yaml; known: 24\.04, .*26\.07"):
        compat.release_info("30.01")


# ---------------------------------------------------------------- ONNX against a release


def test_an_onnx_opset_newer_than_the_release_is_an_error(tmp_path):
    onnx_model(tmp_path / "m" / "1" / "model.onnx", opset=23, ir_version=10)
    (f,) = compat.problems_for(tmp_path / "m", "24.10")
    assert f.rule == "compat.onnx-opset" and f.file.endswith("m/1/model.onnx")
    assert "opset 23" in f.message and "at most 21" in f.message
    assert "opset <= 21" in f.fix and "Triton >= 25.08" in f.fix


def test_an_onnx_opset_the_release_supports_is_fine(tmp_path):
    onnx_model(tmp_path / "model.onnx", opset=17)
    assert compat.problems_for(tmp_path / "model.onnx", "24.10") == []


def test_an_onnx_ir_version_newer_than_the_release_is_an_error(tmp_path):
    onnx_model(tmp_path / "model.onnx", opset=17, ir_version=11)
    (f,) = compat.problems_for(tmp_path / "model.onnx", "24.10")
    assert f.rule == "compat.onnx-ir" and "IR version 11" in f.message and "at most 10" in f.message


# ---------------------------------------------------------------- TorchScript against a release


@pytest.fixture(scope="module")
def ts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ts") / "model.pt"
    torchscript_model(path)
    return path


def test_what_torch_jit_save_records(ts_file):
    rec = compat.torchscript_record(ts_file)
    assert rec["has_code"] and rec["byteorder"]
    assert 3 <= rec["format_version"] <= 10  # a file format version, not a torch version


def test_a_torchscript_file_built_by_a_newer_torch_is_a_warning(ts_file, tmp_path):
    d = tmp_path / "1"
    d.mkdir()
    (d / "model.pt").write_bytes(ts_file.read_bytes())
    (d / "build.json").write_text(json.dumps({"torch": "2.13.0+cpu"}))
    (f,) = compat.problems_for(d / "model.pt", "24.10")
    assert f.severity == "warning" and f.rule == "compat.torchscript-torch"
    assert "torch 2.13.0+cpu" in f.message and "libtorch 2.5" in f.message and "build.json" in f.message
    assert "torch==2.5.*" in f.fix and "ONNX" in f.fix
    (d / "build.json").write_text(json.dumps({"torch": "2.5.1"}))
    assert compat.problems_for(d / "model.pt", "24.10") == []


def test_without_a_build_record_the_producer_is_unknown_and_not_guessed(ts_file):
    assert compat.problems_for(ts_file, "24.10") == []
    (f,) = compat.problems_for(ts_file, "24.10", producer_torch="2.7.0")
    assert "from caller" in f.message and "Triton >= 25.02" in f.fix


def test_a_format_version_the_release_cannot_read_is_an_error(ts_file, tmp_path):
    out = tmp_path / "model.pt"
    with zipfile.ZipFile(ts_file) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, b"11\n" if item.filename.endswith("/version") else data)
    (f,) = compat.problems_for(out, "24.10")
    assert f.rule == "compat.torchscript-format" and "format version 11" in f.message


def test_a_torch_save_checkpoint_is_not_torchscript(tmp_path):
    import torch

    torch.save({"w": torch.zeros(2)}, tmp_path / "model.pt")
    (f,) = compat.problems_for(tmp_path / "model.pt", "24.10")
    assert f.rule == "compat.torchscript" and "torch.save checkpoint" in f.message
