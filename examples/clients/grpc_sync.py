#!/usr/bin/env python3
"""Synchronous gRPC client: classify a PNG with the digits pipeline and run a tensor model.

Two calls a service makes most often, on tritonclient alone:

1. ``digits_pipeline`` (an ensemble): the raw PNG file goes in as one BYTES element, Triton
   decodes, classifies and post-processes it, the top-3 labels and scores come back.
2. ``linear`` (a plain tensor model): a float32 feature vector in, a float32 vector out.

Every call carries a deadline (``client_timeout``, seconds): without one a stuck server holds the
caller forever. Each failure kind gets its own message and the program exits 1.

    python examples/clients/grpc_sync.py --url localhost:8001 \
        --image examples/digits_samples/007_label7.png

Names and shapes are written out here for clarity; metadata_inputs.py reads them from the server.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException


def classify_png(client: grpcclient.InferenceServerClient, model: str, png: bytes, timeout_s: float):
    """Top-3 (label, score) pairs for one image, sent as raw bytes (batch of 1)."""
    image = grpcclient.InferInput("IMAGE", [1, 1], "BYTES")
    image.set_data_from_numpy(np.array([[png]], dtype=np.object_))
    outputs = [grpcclient.InferRequestedOutput("LABELS"), grpcclient.InferRequestedOutput("SCORES")]
    result = client.infer(model, [image], outputs=outputs, client_timeout=timeout_s)
    labels = [label.decode() for label in result.as_numpy("LABELS")[0]]
    return list(zip(labels, result.as_numpy("SCORES")[0].tolist()))


def run_tensor_model(client: grpcclient.InferenceServerClient, model: str, features: np.ndarray, timeout_s: float):
    """One float32 row through a model with input ``x`` and output ``y`` (the linear example)."""
    x = grpcclient.InferInput("x", [1, features.size], "FP32")
    x.set_data_from_numpy(features.reshape(1, -1).astype(np.float32))
    result = client.infer(model, [x], outputs=[grpcclient.InferRequestedOutput("y")], client_timeout=timeout_s)
    return result.as_numpy("y")[0]


def explain(err: InferenceServerException, url: str, timeout_s: float) -> str:
    """One line per failure kind, saying what to do about it."""
    status = err.status() or ""
    if status == "StatusCode.UNAVAILABLE":
        return f"cannot reach Triton at {url} (server down, wrong port, or shutting down): {err.message()}"
    if status == "StatusCode.DEADLINE_EXCEEDED":
        return f"no answer within the {timeout_s}s deadline (server overloaded or model too slow); raise --timeout or retry later"
    if status == "StatusCode.NOT_FOUND":
        return f"model not served or not ready (check GET /v2/models/<name>/ready): {err.message()}"
    if status == "StatusCode.INVALID_ARGUMENT":
        return f"the request does not match the model's config (names, dtype, shape): {err.message()}"
    return f"inference failed ({status or 'no status'}): {err.message()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="localhost:8001", help="Triton gRPC address (default: localhost:8001)")
    parser.add_argument("--image", default="examples/digits_samples/007_label7.png", help="PNG file to classify")
    parser.add_argument("--pipeline", default="digits_pipeline", help="ensemble taking raw image bytes (default: digits_pipeline)")
    parser.add_argument("--tensor-model", default="linear", help="model with FP32 input x and output y (default: linear)")
    parser.add_argument("--features", default="0,1,2,3,4,5,6,7,8,9", help="comma-separated input row for the tensor model")
    parser.add_argument("--timeout", type=float, default=5.0, help="deadline per call in seconds (default: 5)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args(argv)

    try:
        png = open(args.image, "rb").read()
    except OSError as err:
        parser.error(f"--image {args.image}: {err.strerror}; pass a PNG or JPEG file")
    features = np.array([float(v) for v in args.features.split(",")], dtype=np.float32)
    client = grpcclient.InferenceServerClient(args.url)
    try:
        top3 = classify_png(client, args.pipeline, png, args.timeout)
        y = run_tensor_model(client, args.tensor_model, features, args.timeout)
    except InferenceServerException as err:
        print(f"error: {explain(err, args.url, args.timeout)}", file=sys.stderr)
        return 1
    finally:
        client.close()

    if args.json:
        print(json.dumps({"image": args.image, "top3": top3, "features": features.tolist(), "output": y.tolist()}))
    else:
        print(f"{args.image}: digit {top3[0][0]} (score {top3[0][1]:.3f}); top-3 {top3}")
        print(f"{args.tensor_model}({features.tolist()}) = {y.tolist()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
