"""Spike: a baseline of a quarter of --users, a spike to --users in the middle fifth of
--run-time, then the baseline again, to see how fast latency recovers.

    locust -f loadtest/locustfile.py,loadtest/shapes/spike.py --headless -u 32 -t 2m ModelHttpUser

Reads --users and --run-time (``use_common_options``); the spike is spawned at once.
"""

from __future__ import annotations

from locust import LoadTestShape


def spike_users(elapsed: float, users: int, run_time: float) -> int | None:
    """Users wanted ``elapsed`` seconds into the run; None once the run is over."""
    if elapsed >= run_time:
        return None
    base = max(1, users // 4)
    start, end = 0.4 * run_time, 0.6 * run_time
    return users if start <= elapsed < end else base


class SpikeLoadShape(LoadTestShape):
    use_common_options = True

    def tick(self):
        o = self.runner.environment.parsed_options
        users = int(getattr(o, "num_users", None) or 16)
        run_time = float(getattr(o, "run_time", None) or 100)
        n = spike_users(self.get_run_time(), users, run_time)
        if n is None:
            return None
        return n, max(float(users), 1.0)  # a spike arrives at once
