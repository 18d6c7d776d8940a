"""Ray Serve peer: one deployment per model of ``PEER_MODELS`` (benchmarks/peer_runtime.py), as
Ray Serve's docs write a batched model: a ``@serve.deployment`` class whose ``__call__`` takes the
Starlette request and awaits a ``@serve.batch`` method that runs the whole batch in one call.

Run by benchmarks/peers.py in .venv-ray::

    PEER_MODELS='[...]' PEER_WORKERS=2 PEER_THREADS=1 python benchmarks/rayserve_app.py --port 8123

A local Ray (``num_cpus`` = cores, no dashboard, no usage reporting) with the HTTP proxy on
127.0.0.1:PORT; each model at ``/predict/<name>_<format>`` with ``PEER_WORKERS`` replicas. The
batch size and wait come from each entry (``set_max_batch_size`` / ``set_batch_wait_timeout_s``,
Ray's way to set them per deployment). SIGTERM shuts Serve and Ray down.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np
import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_runtime  # noqa: E402


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256)
class PeerModel:
    def __init__(self, settings: peer_runtime.PeerSettings):
        self.settings = settings
        self.run = peer_runtime.load(settings)
        self.predict.set_max_batch_size(settings.max_batch)
        self.predict.set_batch_wait_timeout_s(settings.delay_ms / 1000)

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.002)
    async def predict(self, samples: list[np.ndarray]) -> list[np.ndarray]:
        return list(self.run(np.stack(samples)))

    async def __call__(self, request: Request):
        try:
            x = peer_runtime.decode(await request.body(), self.settings)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"logits": (await self.predict(x)).tolist()})


def start_ray(attempts: int = 3) -> None:
    """A local Ray. Ray waits a fixed 30 s for its raylet to register (ray/_private/node.py); on a
    loaded machine that can run out, so a timed-out start is tried again from scratch."""
    for attempt in range(1, attempts + 1):
        try:
            ray.init(num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False, log_to_driver=False)
            return
        except Exception as exc:
            if "timed out during startup" not in str(exc) or attempt == attempts:
                raise
            print(f"Ray start {attempt}/{attempts} timed out ({exc}); again", flush=True)
            ray.shutdown()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    models = peer_runtime.from_env()
    start_ray()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": args.port})
        for s in models:
            app = PeerModel.options(name=f"{s.name}_{s.format}", num_replicas=s.workers).bind(s)
            serve.run(app, name=f"{s.name}_{s.format}", route_prefix=s.route)
            print(f"serving {s.route} ({s.workers} replicas, batch {s.max_batch}, wait {s.delay_ms} ms)", flush=True)
        stop.wait()
    finally:
        serve.shutdown()
        ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
