"""Locust runs and Triton's own statistics (loadtest/triton_stats.py), against a real local Triton:
the headless report carries them, and a server that cannot be reached is named as such."""

from __future__ import annotations

import csv
import sys

import pytest

from tritonctl.bench.locust_run import run_headless

pytestmark = pytest.mark.integration
serverkit = sys.modules["_serverkit"]  # loaded by tests/loadtest/conftest.py (free ports, never handed out twice)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_wrong_host_is_reported_as_unreachable_not_as_a_missing_model(lt_server, tmp_path, protocol):
    port = serverkit.free_port()  # nothing listens there
    host = lt_server.http_url if protocol == "grpc" else f"localhost:{port}"
    s = run_headless(host, "linear", users=1, duration=2, protocol=protocol, grpc_host=f"localhost:{port}",
                     out_dir=tmp_path)
    log = open(s["log"]).read()
    assert s["exit_code"] == 2, log
    assert f"cannot reach the server at localhost:{port}" in log, log
    assert "ModelNotFound" not in log and "is not ready" not in log, log
