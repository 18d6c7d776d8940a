"""A closed-loop load generator with pluggable request functions.

``concurrency`` workers each send one request, wait for its answer, and send the next; the
window's throughput is completed samples per second and the latencies are per request. The
request function is the only system-specific part, so Triton (gRPC or HTTP, through
tritonclient's asyncio clients), a plain HTTP server (TorchServe, Flask) and an in-process
model call are measured by the same loop:

* an ``async def request() -> int`` (samples it carried) runs ``concurrency`` times concurrently
  in one asyncio loop;
* a plain ``def request() -> int`` (an in-process call) runs back to back in this thread; its
  concurrency is expressed as the batch size it runs, so it must be 1 here.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from dataclasses import asdict, dataclass, field
from typing import Awaitable, Callable, Union

import numpy as np

RequestFn = Union[Callable[[], Awaitable[int]], Callable[[], int]]


@dataclass
class Window:
    """What one measurement window saw."""

    concurrency: int
    requests: int = 0
    samples: int = 0
    errors: int = 0
    seconds: float = 0.0
    throughput: float = 0.0  # samples per second
    p50_ms: float = float("nan")
    p95_ms: float = float("nan")
    p99_ms: float = float("nan")
    mean_ms: float = float("nan")
    first_error: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(concurrency: int, latencies_s: list[float], samples: int, errors: int, seconds: float, first_error: str = "") -> Window:
    w = Window(concurrency=concurrency, requests=len(latencies_s), samples=samples, errors=errors, seconds=seconds, first_error=first_error)
    if seconds > 0:
        w.throughput = samples / seconds
    if latencies_s:
        ms = np.asarray(latencies_s) * 1e3
        w.p50_ms, w.p95_ms, w.p99_ms = (float(v) for v in np.percentile(ms, [50, 95, 99]))
        w.mean_ms = float(ms.mean())
    return w


async def _closed_loop_async(request, concurrency: int, duration: float, warmup: float) -> Window:
    loop = asyncio.get_running_loop()
    start = loop.time()
    t_measure = start + warmup
    t_end = t_measure + duration
    latencies: list[float] = []
    counts = {"samples": 0, "errors": 0}
    first_error: list[str] = []

    async def worker():
        clock = time.perf_counter
        while True:
            t0 = clock()
            if loop.time() >= t_end:
                return
            try:
                n = await request()
                ok = True
            except Exception as exc:  # an error is a measurement, not a crash
                ok = False
                if not first_error:
                    first_error.append(f"{type(exc).__name__}: {str(exc).strip()[:300]}")
            t1 = clock()
            now = loop.time()
            if t_measure <= now <= t_end:
                if ok:
                    latencies.append(t1 - t0)
                    counts["samples"] += int(n or 1)
                else:
                    counts["errors"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summarize(concurrency, latencies, counts["samples"], counts["errors"], duration, first_error[0] if first_error else "")


def _closed_loop_sync(request, duration: float, warmup: float) -> Window:
    clock = time.perf_counter
    start = clock()
    t_measure, t_end = start + warmup, start + warmup + duration
    latencies: list[float] = []
    samples = errors = 0
    first_error = ""
    while True:
        t0 = clock()
        if t0 >= t_end:
            break
        try:
            n = request()
            ok = True
        except Exception as exc:
            ok = False
            first_error = first_error or f"{type(exc).__name__}: {exc}"
        t1 = clock()
        if t0 >= t_measure:
            if ok:
                latencies.append(t1 - t0)
                samples += int(n or 1)
            else:
                errors += 1
    return summarize(1, latencies, samples, errors, duration, first_error)


def closed_loop(request: RequestFn, concurrency: int, duration: float, warmup: float = 1.0) -> Window:
    """Run one window: ``warmup`` seconds unmeasured, then ``duration`` seconds measured."""
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    if inspect.iscoroutinefunction(request):
        return asyncio.run(_closed_loop_async(request, concurrency, duration, warmup))
    if concurrency != 1:
        raise ValueError("a synchronous (in-process) request function runs at concurrency 1; express load as batch size")
    return _closed_loop_sync(request, duration, warmup)


async def run_async(request, concurrency: int, duration: float, warmup: float = 1.0) -> Window:
    """``closed_loop`` for callers already inside an event loop (clients bound to that loop)."""
    return await _closed_loop_async(request, concurrency, duration, warmup)


# --------------------------------------------------------------------------------------------
# request functions for Triton (tritonclient asyncio clients)
# --------------------------------------------------------------------------------------------
class TritonTarget:
    """An async request function for one model over gRPC or HTTP; use inside one event loop.

    ``inputs`` maps input names to numpy arrays WITH the batch dimension. Binary tensors both ways
    (HTTP: binary_data) so both protocols carry the same bytes.
    """

    def __init__(self, url: str, protocol: str, model: str, inputs: dict[str, np.ndarray], outputs: list[str] | None = None):
        self.url, self.protocol, self.model = url, protocol, model
        self.input_arrays, self.output_names = inputs, outputs or []
        self.client = None

    async def __aenter__(self):
        if self.protocol == "grpc":
            import tritonclient.grpc as mod
            from tritonclient.grpc import aio

            self.client = aio.InferenceServerClient(self.url)
            self.inputs = []
            for name, arr in self.input_arrays.items():
                t = mod.InferInput(name, list(arr.shape), _triton_dtype(arr))
                t.set_data_from_numpy(arr)
                self.inputs.append(t)
            self.outputs = [mod.InferRequestedOutput(n) for n in self.output_names] or None
        elif self.protocol == "http":
            import tritonclient.http as mod
            from tritonclient.http import aio

            self.client = aio.InferenceServerClient(self.url, conn_limit=256)
            self.inputs = []
            for name, arr in self.input_arrays.items():
                t = mod.InferInput(name, list(arr.shape), _triton_dtype(arr))
                t.set_data_from_numpy(arr, binary_data=True)
                self.inputs.append(t)
            self.outputs = [mod.InferRequestedOutput(n, binary_data=True) for n in self.output_names] or None
        else:
            raise ValueError(f"protocol must be grpc or http, got {self.protocol!r}")
        self.batch = next(iter(self.input_arrays.values())).shape[0] if self.input_arrays else 1
        return self

    async def __aexit__(self, *exc):
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def __call__(self) -> int:
        await self.client.infer(self.model, self.inputs, outputs=self.outputs)
        return self.batch


def _triton_dtype(arr: np.ndarray) -> str:
    from tritonclient.utils import np_to_triton_dtype

    return np_to_triton_dtype(arr.dtype)


def sweep_triton(url: str, protocol: str, model: str, inputs: dict[str, np.ndarray], concurrencies: list[int],
                 duration: float, warmup: float = 1.0, outputs: list[str] | None = None) -> list[Window]:
    """A concurrency sweep against one Triton model: one client, one event loop, one window per level."""

    async def go():
        async with TritonTarget(url, protocol, model, inputs, outputs) as target:
            return [await run_async(target.__call__, c, duration, warmup) for c in concurrencies]

    return asyncio.run(go())
