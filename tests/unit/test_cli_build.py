"""The CLI through a subprocess: exit codes, one-line errors, tracebacks only with -v."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np

from buildkit import LINEAR, fresh_eager_outputs, make_project, served_outputs, tree_digest


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


def test_a_build_killed_mid_export_leaves_the_repository_intact_and_the_next_build_cleans_up(tmp_path):
    """SIGKILL skips every cleanup: the staging directory is left behind. The repository must be
    exactly as it was, and the next build must remove the leftover and publish normally."""
    path, pkg = make_project(tmp_path)
    assert tritonctl("-q", "build", str(path)).returncode == 0
    before = tree_digest(tmp_path / "repo")
    nets = tmp_path / pkg / "nets.py"
    nets.write_text(nets.read_text().replace("torch.manual_seed(seed)", "torch.manual_seed(seed + 5)"))
    proc = subprocess.Popen([sys.executable, "-m", "tritonctl", "build", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # The state to wait for: a version directory inside staging means the export has begun.
        deadline = time.monotonic() + 120
        staged: list = []
        while not staged and proc.poll() is None and time.monotonic() < deadline:
            staged = list(tmp_path.glob(f".repo.staging-{proc.pid}-*/lin/2"))
            time.sleep(0.005)
        assert staged, f"the build never reached its export (exit {proc.poll()}): {proc.stderr.read() if proc.poll() is not None else ''}"
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stderr.close()
    leftovers = list(tmp_path.glob(".repo.staging-*"))
    assert leftovers, "the killed build should have left its staging directory (nothing else removes it)"
    assert tree_digest(tmp_path / "repo") == before

    again = tritonctl("-q", "build", str(path))
    assert again.returncode == 0, again.stderr
    assert not any(p.exists() for p in leftovers) and not list(tmp_path.glob(".repo.staging-*"))
    after = tree_digest(tmp_path / "repo")
    assert {k for k in after if k.startswith("lin/")} == {"lin/config.pbtxt", "lin/2/model.onnx", "lin/2/build.json"}
    x = np.linspace(-2, 2, 8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(served_outputs(tmp_path / "repo", "lin", 2, x), fresh_eager_outputs(nets, "linear", x), atol=1e-5)
