"""LitServe peer: one LitAPI per model of ``PEER_MODELS`` (benchmarks/peer_runtime.py), all on one
LitServer, as LitServe's docs write a batched model: ``setup`` loads it, ``decode_request`` turns a
request into one sample, ``predict`` runs the whole batch (LitServe's default ``batch`` stacks the
numpy samples, ``unbatch`` splits the result), ``encode_response`` returns JSON.

Run by benchmarks/peers.py in .venv-litserve::

    PEER_MODELS='[...]' PEER_WORKERS=2 PEER_THREADS=1 python benchmarks/litserve_app.py --port 8123

Batching per model: ``LitAPI(max_batch_size=..., batch_timeout=...)`` (seconds); CPU workers:
``LitServer(accelerator="cpu", workers_per_device=PEER_WORKERS)``. The raw float32 body arrives as
base64 in a JSON body, ``{"sample": "<base64>"}``, as LitServe's examples send images: LitServe
parses JSON and forms only, and a form's file upload cannot cross its queue to the inference
workers (0.2.19: "Pickling an AuthenticationString object is disallowed").
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

import litserve as ls
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peer_runtime  # noqa: E402


class PeerAPI(ls.LitAPI):
    def __init__(self, settings: peer_runtime.PeerSettings):
        super().__init__(max_batch_size=settings.max_batch, batch_timeout=settings.delay_ms / 1000, api_path=settings.route)
        self.settings = settings

    def setup(self, device):
        self.run = peer_runtime.load(self.settings)

    def decode_request(self, request: dict) -> np.ndarray:
        return peer_runtime.decode(base64.b64decode(request["sample"]), self.settings)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.run(batch)

    def encode_response(self, output: np.ndarray) -> dict:
        return {"logits": output.tolist()}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args()
    models = peer_runtime.from_env()
    server = ls.LitServer([PeerAPI(s) for s in models], accelerator="cpu", workers_per_device=models[0].workers,
                          timeout=120)
    server.run(host="127.0.0.1", port=args.port, generate_client_file=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
