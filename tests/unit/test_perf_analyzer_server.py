"""perf_analyzer's console summary -> the server's breakdown (bench/perf_analyzer.parse_server)."""

from __future__ import annotations

import pytest

from tritonctl.bench.perf_analyzer import parse_client_avg_ms, parse_server

# perf_analyzer 2.41's summary of one level (its layout, with numbers of a digits run at c=8)
SUMMARY = """\
Request concurrency: 8
  Client:
    Request count: 5012
    Throughput: 2784.11 infer/sec
    Avg latency: 2861 usec (standard deviation 1130 usec)
    p50 latency: 2650 usec
    Avg gRPC time: 2842 usec ((un)marshal request/response 12 usec + response wait 2830 usec)
  Server:
    Inference count: 5016
    Execution count: 1264
    Successful request count: 5016
    Avg request latency: 1176 usec (overhead 4 usec + queue 502 usec + compute input 56 usec + compute infer 388 usec + compute output 226 usec)
"""


def test_the_server_summary_becomes_a_breakdown_in_milliseconds():
    b = parse_server(SUMMARY, "digits")
    assert (b.requests, b.inferences, b.executions) == (5016, 5016, 1264)
    assert b.request_ms == pytest.approx(1.176)
    assert (b.queue_ms, b.compute_input_ms, b.compute_infer_ms, b.compute_output_ms) == pytest.approx((0.502, 0.056, 0.388, 0.226))
    assert b.overhead_ms == pytest.approx(0.004)  # what the parts leave, as perf_analyzer prints it
    assert b.batch_size == pytest.approx(5016 / 1264)
    assert parse_client_avg_ms(SUMMARY) == pytest.approx(2.861)


def test_a_run_without_the_server_summary_has_no_breakdown():
    assert parse_server("Failed to obtain stable measurement within 10 measurement windows") is None
