#!/usr/bin/env python3
"""asyncio gRPC client: many concurrent requests from one thread with tritonclient.grpc.aio.

A service built on asyncio (FastAPI, aiohttp, ...) must not block its event loop on a sync
client. ``tritonclient.grpc.aio`` awaits each call; a fixed pool of worker tasks keeps
``--concurrency`` requests in flight, so Triton's dynamic batcher can group them. The inputs of
each image are built once and reused by every request that sends it (no re-encoding per call).

    python examples/clients/grpc_aio.py --url localhost:8001 --requests 500 --concurrency 32

Sends the PNGs of --images round-robin to the digits pipeline, checks each answer against the
label in the file name (``007_label7.png``), and prints throughput, latency and accuracy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import tritonclient.grpc.aio as aioclient
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException


def image_inputs(path: Path) -> list[InferInput]:
    """The request inputs for one image, built once: raw bytes as a [1, 1] BYTES tensor."""
    image = InferInput("IMAGE", [1, 1], "BYTES")
    image.set_data_from_numpy(np.array([[path.read_bytes()]], dtype=np.object_))
    return [image]


def label_of(path: Path) -> str | None:
    match = re.search(r"label(\w+)", path.stem)
    return match.group(1) if match else None


async def run(args) -> dict:
    images = sorted(Path(args.images).glob("*.png"))
    if not images:
        raise SystemExit(f"error: no *.png in --images {args.images}")
    requests = [(path, image_inputs(path)) for path in images]
    outputs = [InferRequestedOutput("LABELS")]
    client = aioclient.InferenceServerClient(args.url)
    latencies: list[float] = []
    errors: Counter = Counter()
    predictions: dict[str, Counter] = {path.name: Counter() for path in images}
    next_index = iter(range(args.requests))

    async def worker() -> None:
        for i in next_index:  # shared iterator: each request index is taken by exactly one worker
            path, inputs = requests[i % len(requests)]
            start = time.perf_counter()
            try:
                result = await client.infer(args.model, inputs, outputs=outputs, client_timeout=args.timeout)
            except InferenceServerException as err:
                errors[f"{err.status()}: {err.message()[:120]}"] += 1
                continue
            latencies.append(time.perf_counter() - start)
            predictions[path.name][result.as_numpy("LABELS")[0][0].decode()] += 1

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await client.close()

    wrong = {name: dict(seen) for name, seen in predictions.items() if label_of(Path(name)) is not None and set(seen) - {label_of(Path(name))}}
    ms = np.array(latencies) * 1e3
    return {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "succeeded": len(latencies),
        "failed": sum(errors.values()),
        "errors": dict(errors),
        "wrong_predictions": wrong,
        "predictions": {name: dict(seen) for name, seen in predictions.items()},
        "throughput_per_s": round(len(latencies) / elapsed, 1),
        "latency_ms": {"p50": round(float(np.percentile(ms, 50)), 2), "p99": round(float(np.percentile(ms, 99)), 2)} if len(ms) else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="localhost:8001", help="Triton gRPC address (default: localhost:8001)")
    parser.add_argument("--model", default="digits_pipeline", help="ensemble taking raw image bytes (default: digits_pipeline)")
    parser.add_argument("--images", default="examples/digits_samples", help="folder of PNGs named *_label<digit>.png")
    parser.add_argument("--requests", type=int, default=500, help="requests to send in all (default: 500)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at once (default: 32)")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline per call in seconds (default: 10)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.concurrency < 1:
        parser.error("--requests and --concurrency must be at least 1")

    summary = asyncio.run(run(args))
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['succeeded']}/{summary['requests']} succeeded at concurrency {args.concurrency}: "
            f"{summary['throughput_per_s']} req/s, latency {summary['latency_ms']}"
        )
        for error, count in summary["errors"].items():
            print(f"  failed x{count}: {error}", file=sys.stderr)
        for name, seen in summary["wrong_predictions"].items():
            print(f"  {name}: answered {seen}", file=sys.stderr)
    return 0 if summary["failed"] == 0 and not summary["wrong_predictions"] else 1


if __name__ == "__main__":
    sys.exit(main())
