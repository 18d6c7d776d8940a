"""bench/crosscheck.py: the verdict per level between tritonctl bench and perf_analyzer, and its exit code."""

from __future__ import annotations

import csv

from rich.console import Console

from tritonctl.bench import crosscheck
from tritonctl.bench.perf_analyzer import PaResult
from tritonctl.bench.stability import Measurement
from tritonctl.bench.sweep import CLIENT_BOUND_PCT, Point, Series


def point(level: int, infer_per_s: float, stable: bool = True, client_cpu_pct: float = 20.0) -> Point:
    m = Measurement(requests=100, errors=0, duration_s=2.0, throughput=infer_per_s, avg_ms=1.0, p50_ms=1.0,
                    p95_ms=2.0, p99_ms=3.0, stable=stable, windows=3, client_cpu_pct=client_cpu_pct)
    return Point(level, m)


def pa(level: int, infer_per_s: float, stable: bool = True) -> PaResult:
    return PaResult(level, infer_per_s, 1.0, 2.0, 3.0, 1.0, stable)


def verdicts(tmp_path, points, results, tolerance=10.0):
    s = Series("linear grpc", "linear", "grpc", "localhost:8001", 1, points=points)
    code = crosscheck.report([(s, results)], Console(quiet=True), tmp_path, "run", tolerance)
    with open(tmp_path / "run_vs_perf_analyzer.csv") as f:
        return code, [r["verdict"] for r in csv.DictReader(f)]


def test_levels_within_tolerance_agree_and_the_run_passes(tmp_path):
    assert verdicts(tmp_path, [point(1, 1000), point(4, 2050)], [pa(1, 950), pa(4, 2000)]) == (0, ["agree", "agree"])


def test_a_difference_beyond_tolerance_fails_the_run_unless_the_client_is_the_bottleneck(tmp_path):
    code, v = verdicts(tmp_path, [point(1, 1000), point(4, 1000, client_cpu_pct=CLIENT_BOUND_PCT)],
                       [pa(1, 2000), pa(4, 2000)])
    assert (code, v) == (1, ["DISAGREE", "client-bound"])


def test_an_unsettled_level_is_reported_as_unstable_not_as_a_disagreement(tmp_path):
    code, v = verdicts(tmp_path, [point(1, 1000), point(4, 1000, stable=False)], [pa(1, 2000, stable=False), pa(4, 2000)])
    assert (code, v) == (0, ["pa unstable", "bench unstable"])
