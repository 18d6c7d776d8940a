#!/usr/bin/env python3
"""Synchronous HTTP/REST client: the same two calls as grpc_sync.py, over Triton's KServe v2 HTTP API.

Use HTTP where gRPC cannot pass (some proxies, browsers' backends, curl-level debugging); the
binary tensor extension keeps the payload as compact as gRPC's. The deadline is the client's
``network_timeout`` (seconds to wait for an answer; ``connection_timeout`` bounds the connect).
Failure kinds differ from gRPC: HTTP status codes in ``InferenceServerException.status()``, and
plain OS errors when the server cannot be reached.

    python examples/clients/http_sync.py --url localhost:8000 \
        --image examples/digits_samples/007_label7.png
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys

import numpy as np
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException


def classify_png(client: httpclient.InferenceServerClient, model: str, png: bytes):
    """Top-3 (label, score) pairs for one image, sent as raw bytes (batch of 1)."""
    image = httpclient.InferInput("IMAGE", [1, 1], "BYTES")
    image.set_data_from_numpy(np.array([[png]], dtype=np.object_), binary_data=True)
    outputs = [httpclient.InferRequestedOutput("LABELS", binary_data=True), httpclient.InferRequestedOutput("SCORES", binary_data=True)]
    result = client.infer(model, [image], outputs=outputs)
    labels = [label.decode() for label in result.as_numpy("LABELS")[0]]
    return list(zip(labels, result.as_numpy("SCORES")[0].tolist()))


def run_tensor_model(client: httpclient.InferenceServerClient, model: str, features: np.ndarray):
    """One float32 row through a model with input ``x`` and output ``y`` (the linear example)."""
    x = httpclient.InferInput("x", [1, features.size], "FP32")
    x.set_data_from_numpy(features.reshape(1, -1).astype(np.float32), binary_data=True)
    result = client.infer(model, [x], outputs=[httpclient.InferRequestedOutput("y", binary_data=True)])
    return result.as_numpy("y")[0]


def explain(err: Exception, url: str, timeout_s: float) -> str:
    """One line per failure kind, saying what to do about it."""
    if isinstance(err, (ConnectionError, socket.gaierror)):
        return f"cannot reach Triton at {url} (server down, wrong port or host): {err}"
    # geventhttpclient reports a read cut short by network_timeout as a parse error of the
    # (empty) response, so both mean: no complete answer in time.
    if isinstance(err, (TimeoutError, http.client.HTTPException)):
        return f"no complete answer within the {timeout_s}s deadline (server overloaded or model too slow); raise --timeout or retry later"
    status = str(err.status() or "") if isinstance(err, InferenceServerException) else ""
    if status == "404" or "unknown model" in err.message():
        return f"model not served or not ready (check GET /v2/models/<name>/ready): {err.message()}"
    if status == "400":
        return f"the request does not match the model's config (names, dtype, shape): {err.message()}"
    return f"inference failed (HTTP {status or '?'}): {err}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="localhost:8000", help="Triton HTTP address host:port (default: localhost:8000)")
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
    client = httpclient.InferenceServerClient(args.url, connection_timeout=args.timeout, network_timeout=args.timeout)
    try:
        top3 = classify_png(client, args.pipeline, png)
        y = run_tensor_model(client, args.tensor_model, features)
    except (InferenceServerException, OSError, http.client.HTTPException) as err:
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
