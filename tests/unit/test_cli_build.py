"""The CLI through a subprocess: exit codes, one-line errors, tracebacks only with -v."""

from __future__ import annotations

import subprocess
import sys

from buildkit import LINEAR, make_project, tree_digest


def tritonctl(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "tritonctl", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_help_lists_build_and_imports_nothing_heavy():
    out = tritonctl("--help")
    assert out.returncode == 0 and "build" in out.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, tritonctl.cli as c; c.build_parser(); "
         "print(sorted(m for m in ('torch', 'onnx', 'onnxruntime', 'tritonclient') if m in sys.modules))"],
        capture_output=True, text=True,
    )
    assert probe.stdout.strip() == "[]"


def test_build_then_rebuild_through_the_cli(tmp_path):
    path, _ = make_project(tmp_path)
    first = tritonctl("-q", "build", str(path))
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "repo" / "lin" / "1" / "model.onnx").exists()
    digest = tree_digest(tmp_path / "repo")
    again = tritonctl("build", str(path))
    assert again.returncode == 0 and "unchanged" in again.stdout
    assert tree_digest(tmp_path / "repo") == digest


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    path, _ = make_project(tmp_path)
    out = tritonctl("build", str(path), "--dry-run")
    assert out.returncode == 0 and "export v1" in out.stdout and "lin_torchscript" in out.stdout
    assert not (tmp_path / "repo").exists()


def test_a_spec_error_is_one_line_on_stderr_with_exit_code_2(tmp_path):
    path, _ = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:linear", max_batchsize=3)])
    out = tritonctl("build", str(path))
    assert out.returncode == 2
    assert out.stderr.startswith("tritonctl build: error:") and "max_batchsize" in out.stderr
    assert "Traceback" not in out.stderr


def test_an_export_error_exits_1_and_shows_a_traceback_only_with_verbose(tmp_path):
    path, _ = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:broken")])
    out = tritonctl("build", str(path))
    assert out.returncode == 1 and "weights missing" in out.stderr and "Traceback" not in out.stderr
    verbose = tritonctl("-v", "build", str(path))
    assert verbose.returncode != 0 and "Traceback" in verbose.stderr
    assert not (tmp_path / "repo").exists()


def test_an_unknown_model_filter_is_refused(tmp_path):
    path, _ = make_project(tmp_path)
    out = tritonctl("build", str(path), "-m", "nope")
    assert out.returncode == 2 and "no model named ['nope']" in out.stderr
