"""BentoML peer: one service for the one model of ``PEER_MODELS`` (benchmarks/peer_runtime.py), as
BentoML's docs write a batched model: a service class that loads the model in ``__init__`` and an
API method declared ``batchable=True`` with ``max_batch_size`` and ``max_latency_ms`` (below) that runs
the whole batch BentoML's adaptive batcher hands it (batch dimension 0).

Run by benchmarks/peers.py in .venv-bentoml, one server per model (a BentoML service is one model)::

    PEER_MODELS='[{...}]' PEER_WORKERS=2 PEER_THREADS=1 bentoml serve bentoml_app:PeerService \\
        --working-dir benchmarks --host 127.0.0.1 --port 8123

``PEER_WORKERS`` service workers; the route is ``/predict/<name>_<format>``. BentoML's main server
takes JSON or multipart (its pickle media type is refused there), so the raw float32 sample travels
as base64 in JSON, ``{"samples": ["<base64>"]}``, a batch of one along ``batch_dim`` 0 (the same
encoding as the LitServe peer); the batchable method decodes and stacks the samples BentoML gathers.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import bentoml
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_runtime  # noqa: E402

SETTINGS = peer_runtime.from_env()[0]
# BentoML's adaptive batcher chooses how long a batch waits itself; max_latency_ms is the latency
# past which it refuses requests with 503 (not a batch wait like TorchServe's maxBatchDelay). With
# the batch wait of the other servers (2-5 ms) it refused most requests at concurrency 8 on a busy
# machine (quick run, 2026-12-01): a 10 s cap keeps it from refusing work the others queue.
MAX_LATENCY_MS = 10_000


@bentoml.service(workers=SETTINGS.workers, traffic={"timeout": 120})
class PeerService:
    def __init__(self):
        self.run = peer_runtime.load(SETTINGS)

    @bentoml.api(route=SETTINGS.route, batchable=True, batch_dim=0, max_batch_size=SETTINGS.max_batch,
                 max_latency_ms=MAX_LATENCY_MS)
    def predict(self, samples: list[str]) -> list[list[float]]:
        batch = np.stack([peer_runtime.decode(base64.b64decode(b), SETTINGS) for b in samples])
        return self.run(batch).tolist()
