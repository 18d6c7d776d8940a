"""The model side every Python peer server shares (LitServe, BentoML, Ray Serve apps).

Each app runs in its own venv and imports only this file from the project: it reads the served
models from the environment and, per model, a function from a batch (numpy float32, batch first)
to the logits, running the exported file the way each framework's docs recommend for it:

  onnx         onnxruntime.InferenceSession on the CPU provider, intra-op threads from
               ``PEER_THREADS``, idle threads not spinning (as our Triton shim, benchmarks/NOTES.md 2.)
  torchscript  torch.jit.load(...).eval() under torch.inference_mode(), ``PEER_THREADS`` intra-op threads

``PEER_MODELS`` is a JSON list, one entry per served model: {"name", "format", "path", "shape" (one
sample), "input", "output", "max_batch", "delay_ms"} (the framework's batching settings);
``PEER_WORKERS`` is the worker processes / replicas per model, ``PEER_THREADS`` each one's threads.
A raw body is one float32 sample (the bytes benchmarks/peers.py sends every system); it is
refused with the expected size when it does not fit the shape.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PeerSettings:
    name: str
    format: str
    path: str
    shape: tuple[int, ...]
    input: str
    output: str
    threads: int
    max_batch: int
    delay_ms: float
    workers: int

    @property
    def route(self) -> str:
        """The URL path every peer app serves this model on."""
        return f"/predict/{self.name}_{self.format}"

    @property
    def sample_bytes(self) -> int:
        return int(np.prod(self.shape)) * 4



def from_env(env=None) -> list[PeerSettings]:
    """The models ``PEER_MODELS`` lists, with ``PEER_THREADS`` and ``PEER_WORKERS``."""
    env = os.environ if env is None else env
    if "PEER_MODELS" not in env:
        raise SystemExit("PEER_MODELS is not set: benchmarks/peers.py sets it (a JSON list of served models)")
    threads, workers = int(env.get("PEER_THREADS", "1")), int(env.get("PEER_WORKERS", "1"))
    return [PeerSettings(m["name"], m["format"], m["path"], tuple(m["shape"]), m["input"], m["output"], threads,
                         int(m["max_batch"]), float(m["delay_ms"]), workers) for m in json.loads(env["PEER_MODELS"])]


def decode(body: bytes, s: PeerSettings) -> np.ndarray:
    """One raw float32 sample -> an array of ``s.shape`` (no batch dim)."""
    if len(body) != s.sample_bytes:
        raise ValueError(f"{s.name}: a raw body of {len(body)} bytes; one float32 sample of shape {list(s.shape)} "
                         f"is {s.sample_bytes} bytes")
    return np.frombuffer(body, dtype=np.float32).reshape(s.shape)


def load(s: PeerSettings):
    """``run(batch) -> logits`` for the exported file of ``s``."""
    if s.format == "onnx":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = s.threads
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(s.path, opts, providers=["CPUExecutionProvider"])

        def run(batch: np.ndarray) -> np.ndarray:
            return sess.run([s.output], {s.input: batch})[0]

        return run
    if s.format == "torchscript":
        import torch

        torch.set_num_threads(s.threads)
        module = torch.jit.load(s.path, map_location="cpu").eval()

        def run(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return module(torch.from_numpy(np.ascontiguousarray(batch))).numpy()

        return run
    raise SystemExit(f"PEER_MODELS format '{s.format}': choose onnx or torchscript")
