"""The perf_analyzer-like stability rule and the figures merged from measurement windows."""

from __future__ import annotations

import math

import pytest

from tritonctl.bench.stability import StabilityRule, Window, merge


def window(n: int, latency_s: float, start: float = 0.0, duration: float = 1.0, errors: int = 0, cpu: float = 0.0):
    return Window(start, start + duration, [latency_s] * n, errors=errors, cpu_s=cpu)


def test_three_windows_within_ten_percent_are_stable():
    rule = StabilityRule()
    assert rule.is_stable([window(100, 0.010), window(105, 0.0102), window(98, 0.0099)])


def test_a_window_off_by_more_than_ten_percent_in_throughput_is_not_stable():
    assert not StabilityRule().is_stable([window(100, 0.01), window(100, 0.01), window(130, 0.01)])


def test_a_window_off_by_more_than_ten_percent_in_latency_is_not_stable():
    assert not StabilityRule().is_stable([window(100, 0.01), window(100, 0.01), window(100, 0.02)])


def test_only_the_last_windows_count():
    rule = StabilityRule()
    assert rule.is_stable([window(10, 0.5), window(100, 0.01), window(101, 0.01), window(99, 0.01)])


def test_fewer_windows_than_required_are_not_stable_and_the_rule_gives_up_at_max_windows():
    rule = StabilityRule(windows=3, max_windows=4)
    ws = [window(100, 0.01), window(100, 0.01)]
    assert not rule.is_stable(ws) and not rule.done(ws)
    ws = [window(100, 0.01), window(200, 0.01), window(100, 0.01), window(200, 0.01)]
    assert not rule.is_stable(ws) and rule.done(ws)


def test_an_empty_window_is_never_stable():
    assert not StabilityRule().is_stable([window(100, 0.01), window(100, 0.01), window(0, 0.01)])


@pytest.mark.parametrize("kwargs", [{"percentage": 0}, {"percentage": 100}, {"windows": 0}, {"windows": 5, "max_windows": 4}])
def test_invalid_rules_are_refused_on_construction(kwargs):
    with pytest.raises(ValueError):
        StabilityRule(**kwargs)


def test_merge_reports_the_last_windows_percentiles_throughput_and_client_cpu():
    ws = [window(50, 0.5), Window(0, 1, [0.001 * i for i in range(1, 101)], cpu_s=0.2),
          Window(1, 2, [0.001 * i for i in range(1, 101)], cpu_s=0.4), Window(2, 3, [0.001 * i for i in range(1, 101)], errors=2, cpu_s=0.3)]
    m = merge(ws, StabilityRule())
    assert m.requests == 300 and m.errors == 2 and m.windows == 4 and m.stable
    assert m.throughput == pytest.approx(100.0)
    assert m.p50_ms == pytest.approx(50.5, abs=0.01)
    assert m.p99_ms == pytest.approx(99.01, abs=0.01)
    assert m.client_cpu_pct == pytest.approx(30.0)


def test_merge_of_nothing_is_nan_not_an_error():
    m = merge([], StabilityRule())
    assert m.requests == 0 and math.isnan(m.p99_ms) and not m.stable
