"""`tritonctl check` through a subprocess: exit codes, stdout/stderr, formats."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from check_fixtures import build_clean_repo, copy_repo, edit_config, onnx_model


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return build_clean_repo(tmp_path_factory.mktemp("clean"))


def tritonctl(*args):
    return subprocess.run([sys.executable, "-m", "tritonctl", "check", *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_a_clean_repository_exits_zero(clean):
    r = tritonctl(clean)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "4 model(s), 0 error(s), 0 warning(s)" in r.stdout


def test_errors_exit_non_zero_and_print_the_fix(clean, tmp_path):
    repo = copy_repo(clean, tmp_path)
    edit_config(repo / "lin_onnx", lambda c: setattr(c, "name", "linear"))
    r = tritonctl(repo)
    assert r.returncode == 1
    assert "lin_onnx/config.pbtxt: error:" in r.stdout and 'fix: set name: "lin_onnx"' in r.stdout


def test_json_format(clean, tmp_path):
    repo = copy_repo(clean, tmp_path)
    (repo / "lin_onnx" / "labels.txt").unlink()
    r = tritonctl(repo, "--format", "json")
    data = json.loads(r.stdout)
    assert r.returncode == 1 and data["errors"] == 1 and data["findings"][0]["rule"] == "config.labels"


def test_strict_makes_warnings_fail(clean, tmp_path):
    repo = copy_repo(clean, tmp_path)
    (repo / "README").write_text("x")
    assert tritonctl(repo).returncode == 0
    assert tritonctl(repo, "--strict").returncode == 1


def test_a_missing_repository_is_one_line_on_stderr(tmp_path):
    r = tritonctl(tmp_path / "nope")
    assert r.returncode != 0 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("tritonctl check: error:") and "does not exist" in r.stderr


def test_an_unknown_release_lists_the_known_ones(clean):
    r = tritonctl(clean, "--triton-release", "19.01")
    assert r.returncode != 0 and "known: 24.04" in r.stderr and "24.10" in r.stderr


def test_a_release_that_cannot_load_the_opset_fails(clean, tmp_path):
    repo = copy_repo(clean, tmp_path)
    onnx_model(repo / "lin_onnx" / "1" / "model.onnx", opset=22)
    assert tritonctl(repo, "--triton-release", "25.03").returncode == 0
    r = tritonctl(repo, "--triton-release", "24.10")
    assert r.returncode == 1 and "opset 22" in r.stdout and "opset <= 21" in r.stdout


def test_list_releases_prints_every_row_of_the_release_table(tmp_path):
    from tritonctl import compat

    r = subprocess.run([sys.executable, "-m", "tritonctl", "check", "--list-releases", "--format", "json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rows = {row["release"]: row for row in json.loads(r.stdout)}
    table = compat.table()["releases"]  # the data file the CLI reads, not a copy of it
    assert list(rows) == [t["release"] for t in table]
    for t in table:
        assert (rows[t["release"]]["triton"], rows[t["release"]]["onnxruntime"]) == (t["triton"], t["onnxruntime"])
