"""tritonctl check --spec: committed config.pbtxt files against what models.yaml generates (the real generator)."""

from __future__ import annotations

import pytest

from tritonctl import config, spec as spec_mod
from tritonctl.check import check_repository

SPEC = """\
models:
  - name: tiny
    source: examples.linear:build
    inputs: [{name: x, dtype: float32, shape: [4]}]
    outputs: [{name: y, dtype: float32, shape: [2]}]
    formats: [onnx]
    max_batch_size: 4
  - name: echo
    kind: python
    python: echo.py
    inputs: [{name: IN, dtype: float32, shape: [2]}]
    outputs: [{name: OUT, dtype: float32, shape: [2]}]
    max_batch_size: 0
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "models.yaml").write_text(SPEC)
    (tmp_path / "echo.py").write_text("class TritonPythonModel:\n    pass\n")
    repo = tmp_path / "repo"
    for name, cfg in config.build_configs(spec_mod.load(tmp_path / "models.yaml")).items():
        (repo / name).mkdir(parents=True)
        (repo / name / "config.pbtxt").write_text(config.to_text(cfg))
    return tmp_path, repo


def drift(report):
    return [f for f in report.findings if f.rule.startswith("drift.")]


def test_configs_written_by_the_generator_do_not_drift(project):
    root, repo = project
    assert drift(check_repository(repo, spec=root / "models.yaml")) == []


def test_formatting_alone_is_not_drift(project):
    root, repo = project
    path = repo / "echo" / "config.pbtxt"
    path.write_text("# hand-formatted\n" + path.read_text().replace("\n", "\n\n"))
    assert drift(check_repository(repo, spec=root / "models.yaml")) == []


def test_a_changed_config_is_reported_with_a_diff_and_the_fix(project):
    root, repo = project
    path = repo / "tiny" / "config.pbtxt"
    path.write_text(path.read_text().replace("max_batch_size: 4", "max_batch_size: 16"))
    (f,) = drift(check_repository(repo, spec=root / "models.yaml"))
    assert f.rule == "drift.config" and f.file.endswith("tiny/config.pbtxt") and f.severity == "error"
    assert "-max_batch_size: 16" in f.message and "+max_batch_size: 4" in f.message
    assert "tritonctl build" in f.fix


def test_a_model_missing_from_the_repository_and_an_extra_one(project):
    root, repo = project
    (repo / "echo" / "config.pbtxt").unlink()
    (repo / "handmade").mkdir()
    found = {f.rule: f for f in drift(check_repository(repo, spec=root / "models.yaml"))}
    assert found["drift.missing"].severity == "error" and "echo" in found["drift.missing"].message
    assert found["drift.extra"].severity == "warning" and "handmade" in found["drift.extra"].message
