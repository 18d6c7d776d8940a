"""tritonctl.stats: Triton's statistics JSON (both protocols' shapes) -> per-request breakdown."""

from __future__ import annotations

import math

import pytest

from tritonctl.wire import stats


def http_payload(success, success_ns, queue_ns, cin_ns, cinf_ns, cout_ns, inferences, executions, fail=0):
    """What GET /v2/models/m/stats returns (numbers)."""
    return {"model_stats": [{
        "name": "m", "version": "1", "inference_count": inferences, "execution_count": executions,
        "inference_stats": {
            "success": {"count": success, "ns": success_ns}, "fail": {"count": fail, "ns": 0},
            "queue": {"count": success, "ns": queue_ns}, "compute_input": {"count": success, "ns": cin_ns},
            "compute_infer": {"count": success, "ns": cinf_ns}, "compute_output": {"count": success, "ns": cout_ns},
        },
    }]}


def test_grpc_json_with_string_counters_and_missing_zero_fields_parses_like_http():
    # gRPC's MessageToJson writes uint64 as strings and leaves zero-valued fields out
    grpc = {"model_stats": [{"name": "m", "version": "1", "inference_count": "8", "execution_count": "2",
                             "inference_stats": {"success": {"count": "4", "ns": "4000000"},
                                                 "queue": {"count": "4", "ns": "1000000"}, "fail": {}}}]}
    c = stats.parse(grpc)[("m", "1")]
    assert (c.success_count, c.success_ns, c.queue_ns, c.compute_infer_ns, c.fail_count) == (4, 4_000_000, 1_000_000, 0, 0)
    assert (c.inference_count, c.execution_count) == (8, 2)


def test_diff_gives_per_request_milliseconds_and_the_overhead_is_what_the_parts_leave():
    before = stats.parse(http_payload(10, 10_000_000, 1_000_000, 100_000, 5_000_000, 200_000, 10, 10))
    # 100 more requests, 2.0 ms each: 0.5 queue + 0.1 in + 1.0 infer + 0.1 out -> 0.3 overhead
    after = stats.parse(http_payload(110, 210_000_000, 51_000_000, 10_100_000, 105_000_000, 10_200_000, 410, 60))
    b = stats.diff(before, after, "m", "1")
    assert b.requests == 100
    assert b.request_ms == pytest.approx(2.0)
    assert (b.queue_ms, b.compute_input_ms, b.compute_infer_ms, b.compute_output_ms) == pytest.approx((0.5, 0.1, 1.0, 0.1))
    assert b.overhead_ms == pytest.approx(0.3)
    assert sum(b.parts_ms().values()) == pytest.approx(b.request_ms)
    assert b.batch_size == pytest.approx(400 / 50)
    assert b.outside_ms(2.7) == pytest.approx(0.7)


def test_overhead_never_goes_negative_when_the_parts_exceed_the_request_time():
    # batched requests can be charged a compute slightly above their own request time (rounding)
    after = stats.parse(http_payload(1, 1_000_000, 500_000, 0, 600_000, 0, 1, 1))
    assert stats.diff({}, after, "m", "1").overhead_ms == 0.0


def test_a_reloaded_model_is_reported_not_turned_into_negative_times():
    before = stats.parse(http_payload(100, 10**8, 0, 0, 0, 0, 100, 100))
    after = stats.parse(http_payload(5, 10**7, 0, 0, 0, 0, 5, 5))
    with pytest.raises(stats.CountersReset, match="reloaded"):
        stats.diff(before, after, "m", "1")


def test_a_model_missing_from_the_statistics_is_named_with_what_the_server_has():
    with pytest.raises(KeyError, match=r"'other' version 1 .*m/1"):
        stats.diff({}, stats.parse(http_payload(1, 1, 0, 0, 0, 0, 1, 1)), "other", "1")


def test_no_requests_between_snapshots_gives_zeros_and_no_batch_size():
    snap = stats.parse(http_payload(3, 3_000_000, 0, 0, 0, 0, 3, 3))
    b = stats.diff(snap, snap, "m", "1")
    assert b.requests == 0 and b.request_ms == 0.0 and math.isnan(b.batch_size)
    assert stats.diff_all(snap, snap) == []
