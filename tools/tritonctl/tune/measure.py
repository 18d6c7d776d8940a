"""How `tritonctl tune` measures a candidate: Triton request functions and the per-level record.

(Named for measuring, not ``load``: ``commands/load.py`` loads a model into Triton. The record is
``LevelResult``, not a window: ``bench.stability.Window`` is one measurement window.)

The closed loop itself is ``tritonctl.bench.sweep.measure_level`` (the one load generator of
``tritonctl bench``, ``tune`` and ``benchmarks/peers.py``); tune runs it in its fixed mode: a
warm-up, then one window of ``duration`` seconds per concurrency, no stability rule. Throughput
is samples per second (a request function returns the samples it carried) and the latencies are
per request. Triton's statistics are read around the window (``tritonctl.stats``): the window's
``extra["server"]`` holds the server's per-request queue / compute / overhead and batch size.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field

import numpy as np

from tritonctl.bench.stability import Measurement
from tritonctl.bench.sweep import measure_level
from tritonctl.client import AioClient
from tritonctl.endpoints import Target
from tritonctl.stats import WindowMarks


@dataclass
class LevelResult:
    """What one measured concurrency level saw (tune's and peers' record of a measurement)."""

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

    @classmethod
    def from_measurement(cls, concurrency: int, m: Measurement, **extra) -> "LevelResult":
        return cls(concurrency=concurrency, requests=m.requests, samples=m.samples, errors=m.errors,
                   seconds=m.duration_s, throughput=m.samples_per_s, p50_ms=m.p50_ms, p95_ms=m.p95_ms,
                   p99_ms=m.p99_ms, mean_ms=m.avg_ms, first_error=m.last_error, extra=dict(extra))


async def measure_window(request, concurrency: int, duration: float, warmup: float = 1.0, marks=None) -> LevelResult:
    """One fixed window of the shared closed loop: ``warmup`` s unmeasured, ``duration`` s measured.

    Errors are counted, never raised; ``request`` is a zero-argument coroutine function that may
    return the samples it carried. ``marks`` (``tritonctl.stats.WindowMarks``) adds the server's breakdown.
    """
    m = await measure_level(request, concurrency, duration, warmup, rule=None, raise_if_all_fail=False, mark=marks)
    server = marks.breakdown(1) if marks is not None else None
    return LevelResult.from_measurement(concurrency, m, **({"server": server.as_dict()} if server else {}))


# --------------------------------------------------------------------------------------------
# request functions for Triton (tritonclient asyncio clients)
# --------------------------------------------------------------------------------------------
class TritonTarget:
    """An async request function for one model over gRPC or HTTP; use inside one event loop.

    ``inputs`` maps input names to numpy arrays WITH the batch dimension. The request is built once
    by the async face of ``tritonctl.client`` (binary tensors both ways, so both protocols carry the
    same bytes); each call returns the samples it carried.
    """

    def __init__(self, url: str, protocol: str, model: str, inputs: dict[str, np.ndarray], outputs: list[str] | None = None):
        if protocol not in ("grpc", "http"):
            raise ValueError(f"protocol must be grpc or http, got {protocol!r}")
        self.url, self.protocol, self.model = url, protocol, model
        self.input_arrays, self.output_names = inputs, outputs or []
        self.batch = next(iter(inputs.values())).shape[0] if inputs else 1
        self._client = None

    async def __aenter__(self):
        self._client = AioClient(Target(self.protocol, self.url), concurrency=256)
        self._send = self._client.request(self.model, self.input_arrays, self.output_names)
        return self

    async def __aexit__(self, *exc):
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def client(self):
        """The tritonclient asyncio client underneath (for Triton's statistics)."""
        return self._client.client

    async def __call__(self) -> int:
        await self._send()
        return self.batch


def sweep_triton(url: str, protocol: str, model: str, inputs: dict[str, np.ndarray], concurrencies: list[int],
                 duration: float, warmup: float = 1.0, outputs: list[str] | None = None) -> list[LevelResult]:
    """A concurrency sweep against one Triton model: one client, one event loop, one window per level."""

    async def go():
        async with TritonTarget(url, protocol, model, inputs, outputs) as target:
            return [await measure_window(target.__call__, c, duration, warmup, WindowMarks(target.client, model, ""))
                    for c in concurrencies]

    return asyncio.run(go())
