"""Step load: climb to --users in --shape-steps equal steps spread over --run-time, then stop.

    locust -f loadtest/locustfile.py,loadtest/shapes/step.py --headless -u 16 -t 2m ModelGrpcUser

Each step holds for run_time / steps; the stats then show where latency bends as users
double. Without --run-time a step lasts 30 s. Reads --users and --run-time
(``use_common_options``), and --shape-steps from the locustfile.
"""

from __future__ import annotations

import math

from locust import LoadTestShape


def step_users(elapsed: float, users: int, steps: int, run_time: float) -> int | None:
    """Users wanted ``elapsed`` seconds into the run; None once the run is over."""
    if elapsed >= run_time:
        return None
    step_len = run_time / steps
    step = min(int(elapsed // step_len) + 1, steps)
    return max(1, math.ceil(users * step / steps))


class StepLoadShape(LoadTestShape):
    use_common_options = True

    def tick(self):
        o = self.runner.environment.parsed_options
        users = int(getattr(o, "num_users", None) or 8)
        steps = max(1, int(getattr(o, "shape_steps", 4) or 4))
        run_time = float(getattr(o, "run_time", None) or 30 * steps)
        n = step_users(self.get_run_time(), users, steps, run_time)
        if n is None:
            return None
        return n, float(users)  # a step arrives at once
