"""tune explains its winner with Triton's statistics of the same windows (tune.report.explain_winner)."""

from __future__ import annotations

from tritonctl.tune.candidates import Candidate
from tritonctl.tune.measure import LevelResult
from tritonctl.tune.objective import Result, pick_winner
from tritonctl.tune.report import explain_winner


def server(queue, infer, overhead, inferences, executions, requests=1000):
    request = queue + 0.01 + infer + 0.02 + overhead
    return {"model": "m", "version": "1", "requests": requests, "failures": 0, "inferences": inferences,
            "executions": executions, "request_ms": request, "queue_ms": queue, "compute_input_ms": 0.01,
            "compute_infer_ms": infer, "compute_output_ms": 0.02, "overhead_ms": overhead,
            "batch_size": inferences / executions}


def window(c, thr, mean_ms, srv):
    return LevelResult(concurrency=c, requests=1000, samples=1000, throughput=thr, p99_ms=2 * mean_ms, mean_ms=mean_ms,
                  extra={"server": srv})


def test_the_winner_is_explained_by_the_parts_that_moved_against_the_next_best_candidate():
    delay = Result(Candidate("onnx", 8, (4, 8), 2000, 1), [window(1, 400.0, 2.5, server(2.0, 0.30, 0.05, 1000, 1000))])
    no_delay = Result(Candidate("onnx", 8, (4, 8), 0, 1), [window(1, 900.0, 1.1, server(0.02, 0.30, 0.05, 1000, 1000))])
    winner = pick_winner([delay, no_delay], 100.0)
    assert winner is no_delay
    lines = explain_winner([delay, no_delay], winner, 100.0)
    assert lines[0].startswith("why, in Triton's statistics at c=1: queue 0.02 + compute 0.33")
    assert "0.70 ms outside it" in lines[0]  # 1.1 ms client mean - 0.40 ms in the server
    assert "(onnx mbs=8 pref=4,8 delay=2000us inst=1, " in lines[1]  # the runner-up is named
    assert "queue 2.00 -> 0.02 ms" in lines[1]
    assert "compute infer" not in lines[1]  # unchanged parts are not listed as reasons
    assert "400 -> 900 samples/s" in lines[1]


def test_batch_size_is_part_of_the_explanation_when_batching_changed():
    one = Result(Candidate("onnx", 1, (), 0, 1), [window(8, 1000.0, 8.0, server(5.0, 0.3, 0.1, 1000, 1000))])
    eight = Result(Candidate("onnx", 8, (4, 8), 0, 1), [window(8, 3000.0, 2.6, server(0.5, 0.9, 0.1, 1000, 125))])
    lines = explain_winner([one, eight], pick_winner([one, eight], 100.0), 100.0)
    assert "batch 1.0 -> 8.0" in lines[1]
    assert "queue 5.00 -> 0.50 ms" in lines[1]


def test_no_statistics_no_explanation():
    r = Result(Candidate("onnx", 8, (4, 8), 0, 1), [LevelResult(concurrency=1, requests=10, samples=10, throughput=5, p99_ms=1)])
    assert explain_winner([r], r, 100.0) == []
