"""perf_analyzer's stability rule, for ``tritonctl bench``.

perf_analyzer measures in fixed time windows ("time_windows" mode, 5 s by default) and stops
once the last three windows agree: each window's throughput and average latency lie within
``--stability-percentage`` (10 %) of the three windows' mean; it gives up after
``--max-trials`` (10) windows. The reported figures are those of the last three windows merged.
``tritonctl bench`` uses the same rule, so its numbers are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Window:
    """One measurement window: requests completed inside it and their latencies."""

    start: float
    end: float
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    cpu_s: float = 0.0  # client process CPU time spent during the window
    samples: int | None = None  # samples the successful requests carried (None: one each)

    @property
    def n_samples(self) -> int:
        return len(self.latencies_s) if self.samples is None else self.samples

    @property
    def duration(self) -> float:
        return max(self.end - self.start, 1e-9)

    @property
    def throughput(self) -> float:
        return len(self.latencies_s) / self.duration

    @property
    def avg_latency(self) -> float:
        return float(np.mean(self.latencies_s)) if self.latencies_s else float("inf")


@dataclass(frozen=True)
class StabilityRule:
    percentage: float = 10.0  # every window within this % of the mean of the last `windows`
    windows: int = 3
    max_windows: int = 10

    def __post_init__(self):
        if not 0 < self.percentage < 100:
            raise ValueError(f"stability percentage must be in (0, 100), got {self.percentage}")
        if self.windows < 1 or self.max_windows < self.windows:
            raise ValueError(
                f"need 1 <= stable windows ({self.windows}) <= max windows ({self.max_windows})"
            )

    def within(self, values: list[float]) -> bool:
        mean = float(np.mean(values))
        if not np.isfinite(mean) or mean <= 0:
            return False
        tol = self.percentage / 100.0
        return all(abs(v - mean) <= tol * mean for v in values)

    def is_stable(self, windows: list[Window]) -> bool:
        """True when the last ``self.windows`` windows agree in throughput and average latency."""
        if len(windows) < self.windows:
            return False
        last = windows[-self.windows:]
        if any(not w.latencies_s for w in last):
            return False
        return self.within([w.throughput for w in last]) and self.within([w.avg_latency for w in last])

    def done(self, windows: list[Window]) -> bool:
        return self.is_stable(windows) or len(windows) >= self.max_windows


@dataclass
class Measurement:
    """The merged figures of the windows a concurrency level is reported by."""

    requests: int
    errors: int
    duration_s: float
    throughput: float  # requests/s
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    stable: bool
    windows: int
    client_cpu_pct: float  # client process CPU over the windows, % of one core
    samples: int = -1  # samples the requests carried (-1: not counted, one per request)
    samples_per_s: float = float("nan")
    last_error: str = ""  # one failed request's error (the last), when any failed
    merged: int = 0  # how many of the last windows the figures merge (``merge`` decides; 0: not from windows)

    def __post_init__(self):
        if self.samples < 0:
            self.samples = self.requests
            self.samples_per_s = self.throughput


def merge(windows: list[Window], rule: StabilityRule | None, last_error: str = "") -> Measurement:
    """Figures of the last ``rule.windows`` windows (all windows when fewer).

    Without a rule (one fixed window): the figures of all windows, ``stable`` True.
    """
    stable = rule.is_stable(windows) if rule is not None else True
    last = (windows[-rule.windows:] if rule is not None else windows) if windows else []
    lat = np.array([x for w in last for x in w.latencies_s], dtype=float)
    dur = sum(w.duration for w in last) or 1e-9
    samples = sum(w.n_samples for w in last)
    pct = (lambda q: float(np.percentile(lat, q) * 1000.0)) if lat.size else (lambda q: float("nan"))
    return Measurement(
        requests=int(lat.size),
        errors=sum(w.errors for w in last),
        duration_s=dur,
        throughput=lat.size / dur,
        avg_ms=float(lat.mean() * 1000.0) if lat.size else float("nan"),
        p50_ms=pct(50),
        p95_ms=pct(95),
        p99_ms=pct(99),
        stable=stable,
        windows=len(windows),
        client_cpu_pct=100.0 * sum(w.cpu_s for w in last) / dur,
        samples=samples,
        samples_per_s=samples / dur,
        last_error=last_error,
        merged=len(last),
    )
