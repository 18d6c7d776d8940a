"""`tritonctl rollback --no-server`: pin the repository a cluster reads (pushed after), no server asked."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tritonctl import config as C
from tritonctl.config import read_config
from tritonctl.client import config_message

ROOT = Path(__file__).resolve().parents[2]


def _repo(tmp_path: Path, versions=(1, 2, 3)) -> Path:
    repo = tmp_path / "repo"
    for v in versions:
        (repo / "m" / str(v)).mkdir(parents=True)
    cfg = config_message({"name": "m", "platform": "onnxruntime_onnx", "max_batch_size": 8})
    (repo / "m" / "config.pbtxt").write_text(C.to_text(cfg))
    return repo


def _rollback(*args):
    return subprocess.run([sys.executable, "-m", "tritonctl", "rollback", "m", "--no-server", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_no_server_pins_the_previous_version_then_latest_again(tmp_path):
    repo = _repo(tmp_path)
    res = _rollback("--repository", str(repo))
    assert res.returncode == 0, res.stderr
    assert "now selects version 2 (was 3; policy 'specific 2')" in res.stdout
    cfg = read_config(repo / "m" / "config.pbtxt")
    assert list(cfg.version_policy.specific.versions) == [2] and cfg.max_batch_size == 8
    res = _rollback("--repository", str(repo))  # from a pinned 2, the previous is 1
    assert res.returncode == 0 and "now selects version 1 (was 2" in res.stdout, res.stderr
    res = _rollback("--repository", str(repo), "--to", "latest")
    assert res.returncode == 0 and "now selects version 3 (was 1; policy 'latest 1')" in res.stdout, res.stderr
    assert read_config(repo / "m" / "config.pbtxt").version_policy.latest.num_versions == 1


def test_no_server_refuses_a_version_the_repository_does_not_hold_and_a_missing_directory(tmp_path):
    repo = _repo(tmp_path, versions=(1,))
    res = _rollback("--repository", str(repo), "--to", "4")
    assert res.returncode == 1 and "model 'm' has no version 4 (the repository holds 1)" in res.stderr
    res = _rollback()
    assert res.returncode == 1 and "--no-server pins a repository directory: give it with --repository DIR" in res.stderr
