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
    if protocol == "grpc":  # the statistics are read where the users send: the report says it could not
        triton = list(csv.DictReader(open(tmp_path / "linear_grpc_triton.csv")))
        assert [r["note"][:len(f"cannot reach the server at localhost:{port}")] for r in triton] == \
            [f"cannot reach the server at localhost:{port}"], triton


def test_the_headless_report_carries_tritons_split_per_model_next_to_locusts_latency(lt_server, tmp_path):
    s = run_headless(lt_server.http_url, "linear,digits", users=4, duration=4, protocol="both",
                     grpc_host=lt_server.grpc_url, out_dir=tmp_path, extra=["--metrics-url", lt_server.metrics_url])
    log = open(s["log"]).read()
    assert s["exit_code"] == 0 and s["failures"] == 0, log
    rows = {(r["model"], r["version"]): r for r in csv.DictReader(open(tmp_path / "linear+digits_both_triton.csv"))}
    assert set(rows) == {("linear", "1"), ("digits", "1")}, rows
    for (model, version), r in rows.items():
        f = {k: float(r[k]) for k in ("requests", "locust_requests", "executions", "batch_size", "queue_ms",
                                      "compute_ms", "overhead_ms", "server_ms", "client_grpc_ms", "client_http_ms",
                                      "queue_compute_ratio")}
        # Triton answered the requests Locust counted at the same moment (the run had stopped: none in flight)
        assert f["requests"] == pytest.approx(f["locust_requests"], rel=0.02, abs=2), r
        assert f["queue_ms"] > 0 and f["compute_ms"] > 0 and f["queue_compute_ratio"] > 0
        assert f["queue_ms"] + f["compute_ms"] + f["overhead_ms"] == pytest.approx(f["server_ms"], abs=0.003)
        # Locust's latency holds the server's time (2 % for the requests cut short at the end)
        assert min(f["client_grpc_ms"], f["client_http_ms"]) >= 0.98 * f["server_ms"], r
        assert f["batch_size"] >= 1.0 and f["executions"] <= f["requests"]
        assert r["note"] == ""
    assert 'id="triton-statistics"' in (tmp_path / "linear+digits_both.html").read_text()
