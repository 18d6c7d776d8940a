"""Headless Locust runs of loadtest/locustfile.py against a real local Triton."""

from __future__ import annotations

import re

import pytest

from slow_model import SLOW_MODEL, SLOW_MS

from tritonctl.bench.locust_run import run_headless

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "model, protocol, name",
    [
        ("linear", "grpc", "linear/1"),
        ("linear", "http", "linear/1"),
        ("digits_pipeline", "grpc", "digits_pipeline/1"),
        ("digits_pipeline", "http", "digits_pipeline/1"),
    ],
)
def test_headless_run_completes_without_failures_and_writes_reports(lt_server, samples, tmp_path, model, protocol, name):
    s = run_headless(lt_server.http_url, model, users=2, duration=3, protocol=protocol, grpc_host=lt_server.grpc_url,
                     out_dir=tmp_path, samples=str(samples), max_fail_ratio=0.0, extra=["--min-requests", "1"])
    log = open(s["log"]).read()
    assert s["exit_code"] == 0, log
    assert s["failures"] == 0, log
    assert [(e["type"], e["name"]) for e in s["per_name"]] == [(protocol, name)]
    assert s["per_name"][0]["requests"] > 0
    assert (tmp_path / f"{model}_{protocol}_stats.csv").exists()
    assert "<html" in (tmp_path / f"{model}_{protocol}.html").read_text().lower()
    assert "thresholds passed" in log


def test_a_model_the_server_does_not_have_fails_with_a_clear_message(lt_server, tmp_path):
    s = run_headless(lt_server.http_url, "no_such_model", users=1, duration=2, protocol="both",
                     grpc_host=lt_server.grpc_url, out_dir=tmp_path)
    log = open(s["log"]).read()
    assert s["exit_code"] == 2, log
    assert "model 'no_such_model' is not ready on the server" in log
    assert re.search(r"ready models: .*linear", log), log
    assert "pass one of them with --models" in log


def test_a_broken_threshold_fails_the_run(lt_server, tmp_path):
    # every request takes at least SLOW_MS, so a p99 threshold of 1 ms cannot hold
    assert SLOW_MS > 1
    s = run_headless(lt_server.http_url, SLOW_MODEL, users=1, duration=2, protocol="http", out_dir=tmp_path,
                     max_fail_ratio=0.0, max_p99_ms=1)
    log = open(s["log"]).read()
    assert s["requests"] > 0 and s["failures"] == 0, log
    assert s["exit_code"] == 1, log
    assert re.search(r"threshold broken: p99 response time (\d+) ms > --max-p99-ms 1$", log, re.M), log
    assert int(re.search(r"p99 response time (\d+) ms", log).group(1)) >= SLOW_MS, log


def test_a_step_shape_run_climbs_in_steps(lt_server, tmp_path):
    s = run_headless(lt_server.http_url, "linear", users=2, duration=4, protocol="http", out_dir=tmp_path,
                     shape="step", extra=["--shape-steps", "2"])
    log = open(s["log"]).read()
    assert s["exit_code"] == 0, log
    assert s["requests"] > 0
    assert "Shape test updating to 1 users" in log and "Shape test updating to 2 users" in log


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_request_the_server_rejects_counts_as_a_failure_with_the_servers_reason(lt_server, tmp_path, protocol):
    not_images = tmp_path / "not_images"
    not_images.mkdir()
    (not_images / "broken.png").write_bytes(b"these bytes are not a PNG")
    s = run_headless(lt_server.http_url, "digits_pipeline", users=1, duration=2, protocol=protocol,
                     grpc_host=lt_server.grpc_url, out_dir=tmp_path, samples=str(not_images), max_fail_ratio=0.0)
    log = open(s["log"]).read()
    assert s["exit_code"] == 1, log
    assert s["failures"] > 0 and s["failures"] == s["requests"], log  # Locust counts failures as requests
    # every request failed, and the message counts each once
    assert re.search(r"threshold broken: failure ratio 1\.0000 > --max-fail-ratio 0\.0 \((\d+) of \1 requests failed\)", log), log
    failures = (tmp_path / f"digits_pipeline_{protocol}_failures.csv").read_text()
    assert "IMAGE is not a decodable image" in failures, failures
