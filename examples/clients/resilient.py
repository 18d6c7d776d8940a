#!/usr/bin/env python3
"""A gRPC client for Triton on Kubernetes that rides through rolling updates, drains and scale-ups.

What it does, and why (the chart in helm/triton deploys what this client expects):

* **Spread calls over every pod.** One gRPC channel is one long-lived HTTP/2 connection; behind a
  ClusterIP Service it sticks to the pod it first reached. The chart's headless Service
  (``<release>-headless``, on by default: ``service.headless.enabled``) makes DNS return every
  ready pod, and the ``round_robin`` policy opens a connection to each one and rotates calls::

      --url dns:///triton-headless.<namespace>.svc.cluster.local:8001

  Any list works the same way, e.g. ``ipv4:10.0.0.5:8001,10.0.0.6:8001`` (the tests use two
  local servers like that).
* **Keepalive that Triton accepts.** Pings every 60 s while calls are in flight find a dead
  connection (a node gone without a FIN) in at most 80 s. No pings while idle: Triton's default
  (``--grpc-keepalive-permit-without-calls=0``, 5 min minimum ping interval, 2 strikes) answers
  idle pings with GOAWAY ``too_many_pings``. To keep idle connections open through a load balancer
  with a short idle timeout, allow it on the server (chart ``server.extraArgs``) first.
* **Find new pods.** gRPC re-resolves DNS when a connection fails, and no oftener than
  ``grpc.dns_min_time_between_resolutions_ms``; a pod added by a scale-up is found on the next
  failure. To pick new pods up without one, give connections a maximum age on the server
  (``server.extraArgs: ["--grpc-max-connection-age=300000", "--grpc-max-connection-age-grace=30000"]``).
* **Retry what is safe to retry, with capped exponential backoff and jitter, within one deadline.**
  ``UNAVAILABLE`` (connection refused or closed: a pod going away) and a model that is not ready
  (``NOT_FOUND``: "... has no available versions", what Triton answers while it unloads models
  after SIGTERM during the chart's ``--exit-timeout-secs`` drain) are retried; the next attempt
  goes to another pod. ``INVALID_ARGUMENT`` (a request that does not fit the model) and every
  other error are never retried: they would fail the same way again. Inference has no side
  effects, so a retried call is safe even if the first attempt did run.
* **TLS through the chart's Ingress or Gateway:** ``--url grpcs://grpc.triton.example.com:443``
  (the host of ``ingress.grpc.host`` or ``gateway.grpc.hostnames``). The proxy balances each call
  over the pods itself and talks h2c to them; ``--ca-file`` takes a private CA.

    python examples/clients/resilient.py --url dns:///triton-headless.triton.svc.cluster.local:8001 \
        --image examples/digits_samples/007_label7.png
    python examples/clients/resilient.py --url localhost:8001 --stream --rate 50   # until Ctrl-C
"""

from __future__ import annotations

import argparse
import json
import random
import re
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

DEFAULT_URL = "dns:///triton-headless.triton.svc.cluster.local:8001"  # release "triton", namespace "triton" (every install command in the docs uses -n triton)
MODEL_NOT_READY = re.compile(r"has no available versions|is not ready")


def channel_args() -> list[tuple[str, int | str]]:
    """Channel options for a cluster (tritonclient uses these instead of its defaults, so the
    message-size limits it would set are repeated here)."""
    return [
        ("grpc.lb_policy_name", "round_robin"),
        ("grpc.max_send_message_length", 2**31 - 1),
        ("grpc.max_receive_message_length", 2**31 - 1),
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.http2.max_pings_without_data", 2),
        # a restarted pod is used again within ~2 s instead of gRPC's default backoff of up to 120 s
        ("grpc.initial_reconnect_backoff_ms", 250),
        ("grpc.max_reconnect_backoff_ms", 2_000),
        ("grpc.dns_min_time_between_resolutions_ms", 5_000),
    ]


def is_retryable(err: InferenceServerException) -> bool:
    """UNAVAILABLE, or a model that is (still or no longer) not ready; never INVALID_ARGUMENT."""
    status = err.status() or ""
    if status == "StatusCode.UNAVAILABLE":
        return True
    return status == "StatusCode.NOT_FOUND" and bool(MODEL_NOT_READY.search(err.message() or ""))


class ResilientClient:
    """tritonclient's gRPC client with cluster channel options, TLS from ``grpcs://`` and retries."""

    def __init__(self, url: str, *, ca_file: str | None = None, attempts: int = 5, backoff_s: float = 0.05, max_backoff_s: float = 1.0):
        creds = None
        if url.startswith("grpcs://"):
            url = url[len("grpcs://"):]
            roots = Path(ca_file).read_bytes() if ca_file else None  # None: the system's CAs
            creds = grpc.ssl_channel_credentials(root_certificates=roots)
        elif url.startswith("grpc://"):
            url = url[len("grpc://"):]
        self.client = grpcclient.InferenceServerClient(url, creds=creds, channel_args=channel_args())
        self.attempts, self.backoff_s, self.max_backoff_s = attempts, backoff_s, max_backoff_s
        self.retried: Counter = Counter()  # retried errors by status, for the caller's logs

    def infer(self, model: str, inputs, outputs=None, deadline_s: float = 10.0):
        """One inference, retried on retryable errors until it succeeds, ``attempts`` run out or
        the deadline (covering every attempt and backoff) passes; then the last error is raised."""
        deadline = time.monotonic() + deadline_s
        for attempt in range(1, self.attempts + 1):
            remaining = deadline - time.monotonic()
            try:
                return self.client.infer(model, inputs, outputs=outputs, client_timeout=max(remaining, 0.001))
            except InferenceServerException as err:
                # full jitter: spread the retries of many clients over the backoff window
                pause = random.uniform(0, min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1)))
                if not is_retryable(err) or attempt == self.attempts or time.monotonic() + pause >= deadline:
                    raise
                self.retried[err.status()] += 1
                time.sleep(pause)

    def close(self) -> None:
        self.client.close()


def png_inputs(png: bytes) -> tuple[list, list]:
    image = grpcclient.InferInput("IMAGE", [1, 1], "BYTES")
    image.set_data_from_numpy(np.array([[png]], dtype=np.object_))
    return [image], [grpcclient.InferRequestedOutput("LABELS")]


def stream(client: ResilientClient, model: str, png: bytes, expected: str | None, rate: float, duration: float | None, deadline_s: float) -> dict:
    """Send one call every 1/rate seconds until SIGINT/SIGTERM (or ``duration``); count outcomes."""
    stop = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.append(True))
    inputs, outputs = png_inputs(png)
    sent = succeeded = wrong = 0
    errors: Counter = Counter()
    started = next_call = time.monotonic()
    while not stop and (duration is None or time.monotonic() - started < duration):
        sent += 1
        try:
            label = client.infer(model, inputs, outputs, deadline_s).as_numpy("LABELS")[0][0].decode()
        except InferenceServerException as err:
            errors[f"{err.status()}: {err.message()[:160]}"] += 1
        else:
            succeeded += 1
            wrong += expected is not None and label != expected
        next_call += 1.0 / rate
        time.sleep(max(0.0, next_call - time.monotonic()))
    return {
        "sent": sent,
        "succeeded": succeeded,
        "failed": sum(errors.values()),
        "wrong": wrong,
        "errors": dict(errors),
        "retried": dict(client.retried),
        "seconds": round(time.monotonic() - started, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help=f"gRPC target: dns:///host:port, ipv4:a:p,b:p, host:port or grpcs://host:port (default: {DEFAULT_URL})")
    parser.add_argument("--ca-file", help="PEM CA bundle for grpcs:// (default: the system's CAs)")
    parser.add_argument("--model", default="digits_pipeline", help="ensemble taking raw image bytes (default: digits_pipeline)")
    parser.add_argument("--image", default="examples/digits_samples/007_label7.png", help="PNG to send (label checked when the name has _label<d>)")
    parser.add_argument("--deadline", type=float, default=10.0, help="seconds per call, all retries included (default: 10)")
    parser.add_argument("--attempts", type=int, default=5, help="attempts per call (default: 5)")
    parser.add_argument("--stream", action="store_true", help="send a steady stream until Ctrl-C/SIGTERM, then print a JSON summary")
    parser.add_argument("--rate", type=float, default=50.0, help="calls per second in --stream mode (default: 50)")
    parser.add_argument("--duration", type=float, help="stop --stream after this many seconds (default: until signalled)")
    args = parser.parse_args(argv)
    if args.ca_file and not args.url.startswith("grpcs://"):
        parser.error("--ca-file needs a grpcs:// --url")

    try:
        png = Path(args.image).read_bytes()
    except OSError as err:
        parser.error(f"--image {args.image}: {err.strerror}; pass a PNG or JPEG file")
    match = re.search(r"_label(\w+)", Path(args.image).stem)
    expected = match.group(1) if match else None
    client = ResilientClient(args.url, ca_file=args.ca_file, attempts=args.attempts)
    try:
        if args.stream:
            summary = stream(client, args.model, png, expected, args.rate, args.duration, args.deadline)
            print(json.dumps(summary))
            return 0 if summary["failed"] == 0 and summary["wrong"] == 0 else 1
        inputs, outputs = png_inputs(png)
        try:
            label = client.infer(args.model, inputs, outputs, args.deadline).as_numpy("LABELS")[0][0].decode()
        except InferenceServerException as err:
            kind = "gave up after retries" if is_retryable(err) else "not retried"
            print(f"error ({kind}): {err.status()}: {err.message()}", file=sys.stderr)
            print(json.dumps({"error": err.status(), "retryable": is_retryable(err), "retried": dict(client.retried)}))
            return 1
        print(json.dumps({"image": args.image, "digit": label, "retried": dict(client.retried)}))
        return 0 if expected is None or label == expected else 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
