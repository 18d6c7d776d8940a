"""`tritonctl bench`'s server-side breakdown against a real local Triton: Triton's statistics read
around the same windows the client measures.

Tolerances, and why:
* The server's parts sum to its request time: queue + compute (input, infer, output) may exceed
  Triton's request duration only by rounding, so the overhead that ``stats`` clamps at 0 is never
  asked to hide more than 2 % of the request time.
* The client's average latency contains the server's request time: a request is counted by the
  client when its answer arrives and by Triton just before it sends it, so a few requests at the
  window edges land in neighbouring windows on one side only. Over the hundreds of requests of a
  window that moves the averages by a few percent at most: client >= 95 % of server, and the two
  request counts agree within 5 % plus the requests in flight (the concurrency).
* Dynamic batching (digits: 200 us delay) merges concurrent requests: at concurrency 8 the
  executions carry more than one sample on average (inference count / execution count > 1).
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from tritonctl.bench.stability import StabilityRule
from tritonctl.bench.sweep import SweepConfig, parse_target, sweep

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration

PARTS_OVER_REQUEST = 1.02  # queue + compute may exceed the request time by rounding only
CLIENT_OVER_SERVER = 0.95  # client latency >= 95 % of the server's request time (window edges)
COUNT_SLACK = 0.05  # server and client request counts of the same windows


@pytest.fixture(scope="module")
def digits_sweep(lt_server):
    target = parse_target(f"grpc://{lt_server.grpc_url}")[0]
    cfg = SweepConfig("digits", target, [1, 8], window_s=1.0, warmup_s=0.3,
                      rule=StabilityRule(percentage=50, windows=2, max_windows=3))
    return sweep(cfg)


@pytest.mark.parametrize("level", [0, 1], ids=["c=1", "c=8"])
def test_the_server_parts_sum_to_its_request_time_and_that_fits_inside_the_client_latency(digits_sweep, level):
    p = digits_sweep.points[level]
    b = p.server
    assert b is not None, "bench did not read Triton's statistics"
    assert b.requests > 0 and b.failures == 0
    assert abs(b.requests - p.m.requests) <= COUNT_SLACK * p.m.requests + p.concurrency, (b.requests, p.m.requests)
    assert b.queue_ms > 0 and b.compute_infer_ms > 0 and b.compute_input_ms > 0 and b.compute_output_ms > 0
    parts = b.queue_ms + b.compute_input_ms + b.compute_infer_ms + b.compute_output_ms
    assert parts <= b.request_ms * PARTS_OVER_REQUEST, (parts, b.request_ms)
    assert sum(b.parts_ms().values()) == pytest.approx(b.request_ms, rel=PARTS_OVER_REQUEST - 1)
    assert p.m.avg_ms >= b.request_ms * CLIENT_OVER_SERVER, (p.m.avg_ms, b.request_ms)
    assert b.outside_ms(p.m.avg_ms) == pytest.approx(p.m.avg_ms - b.request_ms)


def test_dynamic_batching_merges_concurrent_requests(digits_sweep):
    one, eight = digits_sweep.points
    assert one.concurrency == 1 and eight.concurrency == 8
    assert one.server.batch_size == pytest.approx(1.0)  # nobody to merge with
    assert eight.server.batch_size > 1.2, eight.server


def test_the_cli_prints_the_breakdown_and_its_csv_carries_it(lt_server, tmp_path):
    res = subprocess.run([sys.executable, "-m", "tritonctl", "bench", "digits", "--url", f"http://{lt_server.http_url}",
                          "-c", "1,4", "--window", "0.5", "--warmup", "0.2", "--max-windows", "3", "-o", str(tmp_path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr + res.stdout
    assert "where the time goes" in res.stdout and "outside server" in res.stdout
    rows = list(csv.DictReader(open(tmp_path / "bench.csv")))
    assert [r["concurrency"] for r in rows] == ["1", "4"]
    for r in rows:
        f = {k: float(v) for k, v in r.items() if k.startswith("server_") or k in ("avg_ms", "client_outside_ms")}
        parts = sum(f[f"server_{k}_ms"] for k in ("queue", "compute_input", "compute_infer", "compute_output", "overhead"))
        assert parts == pytest.approx(f["server_request_ms"], rel=0.02, abs=0.002)
        assert f["server_request_ms"] + f["client_outside_ms"] == pytest.approx(f["avg_ms"], abs=0.002)
        assert f["avg_ms"] >= f["server_request_ms"] * CLIENT_OVER_SERVER
        assert f["server_batch_size"] >= 1.0
