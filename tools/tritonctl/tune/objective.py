"""The objective of `tritonctl tune`: the most throughput whose p99 stays under the budget.

Each candidate is measured at a few concurrencies; its score is the best throughput among the
windows that had no errors and a p99 within the budget (``None`` when no window qualifies).
The winner is the candidate with the highest score; ties go to the lower p99, then to the
earlier candidate (the grid lists the simpler configurations first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tritonctl.tune.candidates import Candidate
from tritonctl.tune.measure import LevelResult


@dataclass
class Result:
    candidate: Candidate
    windows: list[LevelResult] = field(default_factory=list)
    error: str = ""  # failed to load / to serve: reported and skipped

    @property
    def ok(self) -> bool:
        return not self.error

    def best_window(self, p99_budget_ms: float) -> LevelResult | None:
        fits = [w for w in self.windows if qualifies(w, p99_budget_ms)]
        if not fits:
            return None
        return max(fits, key=lambda w: (w.throughput, -w.p99_ms))

    def score(self, p99_budget_ms: float) -> float | None:
        w = self.best_window(p99_budget_ms)
        return None if w is None else w.throughput


def qualifies(w: LevelResult, p99_budget_ms: float) -> bool:
    return (
        w.errors == 0
        and w.requests > 0
        and not math.isnan(w.p99_ms)
        and w.p99_ms <= p99_budget_ms
    )


def pick_winner(results: list[Result], p99_budget_ms: float) -> Result | None:
    """The best qualifying result, or None when no candidate met the budget without errors."""
    if p99_budget_ms <= 0:
        raise ValueError("the p99 budget must be positive")
    best: tuple | None = None
    winner = None
    for order, r in enumerate(results):
        if not r.ok:
            continue
        w = r.best_window(p99_budget_ms)
        if w is None:
            continue
        key = (w.throughput, -w.p99_ms, -order)
        if best is None or key > best:
            best, winner = key, r
    return winner


def closest_miss(results: list[Result]) -> Result | None:
    """When nothing qualifies: the served candidate with the lowest error-free p99 (for the message)."""
    pool = [(w.p99_ms, i, r) for i, r in enumerate(results) if r.ok for w in r.windows if w.errors == 0 and w.requests]
    return min(pool)[2] if pool else None
