"""The chart's poll-mode recipe, end to end without a cluster: Triton polls a bucket (a real S3 API,
moto on the loopback), `tritonctl rollback --no-server` pins the local repository, `tritonctl push`
publishes it, and the server moves back to version 1 and forward to 2 under load, no request failed."""

from __future__ import annotations


import pytest
import torch
from fixture_repo import Linear, export_onnx, linear_config, write_config
from s3kit import s3_with_bucket
from serverkit import run_tritonctl, start_server, stop_server
from test_rollout import Traffic

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "rollout"


@pytest.fixture
def s3(tmp_path):
    with s3_with_bucket(tmp_path / "moto", BUCKET) as server:
        yield server


def _ok(*args):
    res = run_tritonctl(*args, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


def test_pin_and_push_rolls_a_polling_bucket_server_back_and_forward_without_a_failed_request(s3, tmp_path):
    repo = tmp_path / "repo"
    example = (torch.randn(2, 10),)
    export_onnx(Linear(0), example, repo / "live" / "1" / "model.onnx", ["x"], ["y"])
    export_onnx(Linear(7, scale=2.0), example, repo / "live" / "2" / "model.onnx", ["x"], ["y"])
    write_config(repo / "live", linear_config("live", "onnxruntime_onnx"))  # latest 1: version 2 serves
    url = s3.url(BUCKET, "models")
    _ok("push", str(repo), url)
    served = start_server(url, tmp_path / "serve", "--model-control-mode", "poll", "--poll-secs", "1")
    traffic = Traffic(served)
    try:
        for t in traffic.threads:
            t.start()
        traffic.only("v2")
        out = _ok("rollback", "live", "--no-server", "--repository", str(repo))
        assert "now selects version 1 (was 2; policy 'specific 1')" in out, out
        _ok("push", str(repo), url)
        traffic.only("v1")
        _ok("rollback", "live", "--no-server", "--repository", str(repo), "--to", "latest")
        _ok("push", str(repo), url)
        traffic.only("v2")
    finally:
        traffic.close()
        stop_server(served)
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.seen["other"] == 0, traffic.seen
