"""Closed-loop concurrency sweep with tritonclient's asyncio clients (gRPC and HTTP).

For each concurrency ``c``: ``c`` coroutines each send a request, wait for its answer and send
the next (closed loop, as perf_analyzer's ``--concurrency-range``). After a warm-up, requests
are counted in measurement windows until the stability rule holds (``stability``); the level
is reported by the merged last windows. The same input tensors are reused for every request
(perf_analyzer does the same), so the client spends its time on the wire, not in numpy.

The client is one Python process on one core: a high ``client_cpu_pct`` means the client, not
the server, set the pace (see ``CLIENT_BOUND_PCT`` and ``Point.client_bound``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import numpy as np

from tritonctl.bench.stability import Measurement, StabilityRule, Window, merge
from tritonctl.client import AioClient
from tritonctl.endpoints import Target, parse_target  # noqa: F401 - bench's targets
from tritonctl.errors import ClientError
from tritonctl.stats import WindowMarks
from tritonctl.wire.inputs import bytes_tensor, sample_files
from tritonctl.wire.shapes import DYNAMIC_DIM
from tritonctl.wire.stats import Breakdown

#: client CPU (% of one core) above which a level counts as limited by the client. The client is
#: one Python thread: its CPU per request is added to every round trip of the closed loop, and on
#: a small machine it takes cores from the server. At a quarter of a core the client already
#: costs perf_analyzer-comparable runs more than the 15 % tolerance (see loadtest/README.md).
CLIENT_BOUND_PCT = 25.0



# ------------------------------------------------------------------------------------------
# levels (targets and their URLs: tritonctl.endpoints)
# ------------------------------------------------------------------------------------------
def parse_concurrency(text: str) -> list[int]:
    """'1,2,4,8' or perf_analyzer's 'start:end[:step]' -> [levels]."""
    text = str(text).strip()
    try:
        if ":" in text:
            parts = [int(p) for p in text.split(":")]
            start, end = parts[0], parts[1]
            step = parts[2] if len(parts) > 2 else 1
            levels = list(range(start, end + 1, step))
        else:
            levels = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ClientError(f"--concurrency '{text}' is not a list like 1,2,4,8 or a range like 1:8:1") from None
    if not levels or any(c < 1 for c in levels):
        raise ClientError(f"--concurrency '{text}' must name levels >= 1")
    return levels


# ------------------------------------------------------------------------------------------
# what to send (model metadata and random inputs come from tritonctl.client)
# ------------------------------------------------------------------------------------------
@dataclass
class PreparedRequest:
    """One valid request to one model, built once from its metadata (``prepare``) and sent unchanged
    on every call of a sweep."""

    model: str
    version: str  # resolved, for labels
    arrays: dict  # input name -> numpy array (the request reused for every call)
    datatypes: dict  # input name -> wire datatype
    outputs: list[str]
    batch_size: int

    def send_on(self, client: AioClient, version: str = ""):
        """The zero-argument coroutine function sending this request through ``client``."""
        return client.request(self.model, self.arrays, self.outputs, version, self.datatypes)


def prepare(target: Target, model: str, version: str = "", batch_size: int = 1, dynamic_dim: int = DYNAMIC_DIM.opt,
            samples: str | None = None) -> PreparedRequest:
    """Check ``model`` is ready at ``target`` and build one valid request from its metadata."""
    from tritonctl import client as tc
    from tritonctl.server import health

    c = tc.make_client(str(target))  # the scheme carries TLS
    try:
        try:
            c.is_server_live()
        except Exception as exc:  # noqa: BLE001 - connection refused, DNS, TLS
            raise ClientError(
                f"cannot reach Triton at {target} ({exc}); start one with `tritonctl serve` or pass --url"
            ) from None
        try:
            health.wait_for_model_ready(c, model, version, timeout_s=0)
        except health.ModelNotReady as exc:
            try:
                have = health.ready_names(health.model_statuses(c))
            except Exception:  # noqa: BLE001 - only enriches the message
                have = []
            raise ClientError(
                f"{target}: {exc} (ready: {', '.join(have) or 'none'}); pick one of those, or load it"
            ) from None
        cfg = tc.get_config(c, model, version)
        md = tc.get_metadata(c, model, version)
    finally:
        c.close()
    mbs = int(cfg.get("max_batch_size", 0) or 0)
    arrays = tc.random_inputs(cfg, batch_size, rng=np.random.default_rng(0), dim_range=(dynamic_dim, dynamic_dim))
    datatypes = {i["name"]: tc.wire_dtype(i.get("data_type", "TYPE_FP32")) for i in cfg.get("input", [])}
    for name, dt in datatypes.items():
        if dt == "BYTES":
            files = sample_files(samples)
            if not files:
                raise ClientError(
                    f"model '{model}' input {name} is BYTES (encoded images); give a folder of PNG/JPEG "
                    "files with --samples (python loadtest/digit_samples.py writes some)"
                )
            with open(files[0], "rb") as f:
                blob = f.read()
            arrays[name] = bytes_tensor(blob, arrays[name].shape)
    versions = md.get("versions") or [version]
    resolved = version or str(max(versions, key=lambda v: int(v) if str(v).isdigit() else -1))
    return PreparedRequest(model, resolved, arrays, datatypes, [o["name"] for o in md.get("outputs", [])],
                     batch_size if mbs else 1)


# ------------------------------------------------------------------------------------------
# the sweep
# ------------------------------------------------------------------------------------------
@dataclass
class SweepConfig:
    model: str
    target: Target
    concurrency: list[int]
    version: str = ""
    batch_size: int = 1
    dynamic_dim: int = DYNAMIC_DIM.opt
    window_s: float = 2.0
    warmup_s: float = 1.0
    rule: StabilityRule = field(default_factory=StabilityRule)
    samples: str | None = None
    label: str = ""

    def __post_init__(self):
        if self.window_s <= 0:
            raise ClientError(f"--window {self.window_s} must be > 0 seconds")
        if self.batch_size < 1:
            raise ClientError(f"--batch-size {self.batch_size} must be >= 1")
        if not self.label:
            self.label = f"{self.model} {self.target}"


@dataclass
class Point:
    concurrency: int
    m: Measurement
    batch_size: int = 1
    server: "Breakdown | None" = None  # Triton's side of the same windows (tritonctl.stats)

    @property
    def infer_per_s(self) -> float:
        return self.m.throughput * self.batch_size

    @property
    def client_bound(self) -> bool:
        return self.m.client_cpu_pct >= CLIENT_BOUND_PCT


@dataclass
class Series:
    label: str
    model: str
    protocol: str
    url: str
    batch_size: int
    points: list[Point] = field(default_factory=list)


def _samples(n) -> int:
    """What a request function returned -> samples it carried (an int > 0), else one."""
    return int(n) if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 else 1


async def measure_level(send, concurrency: int, window_s: float, warmup_s: float = 1.0,
                        rule: StabilityRule | None = None, label: str = "", progress=None,
                        raise_if_all_fail: bool = True, mark=None) -> Measurement:
    """THE closed loop: ``concurrency`` workers each await ``send()``, then send the next.

    ``send`` is a zero-argument coroutine function; when it returns an int > 0, that is the
    number of samples the request carried (``Measurement.samples``/``samples_per_s``), otherwise
    a request counts as one sample. After ``warmup_s`` unmeasured seconds, requests are counted
    in windows of ``window_s`` seconds: with a ``rule``, until the rule holds (the figures are
    the last ``rule.windows`` merged); without one, exactly one window (a fixed measurement).
    A failed request is counted as an error; a window in which every request failed raises
    ``ClientError`` when ``raise_if_all_fail``, else it is reported (no latencies, NaN percentiles).
    ``mark``, an optional coroutine function, is awaited before the first window and after each
    one (``tritonctl.stats.WindowMarks`` snapshots Triton's statistics there).
    """
    if concurrency < 1:
        raise ValueError("concurrency must be >= 1")
    completed: list[tuple[float, bool, int]] = []  # (latency_s, ok, samples) in completion order
    stop = asyncio.Event()
    last_error: list[BaseException] = []

    async def worker():
        clock = time.perf_counter
        t_yield = clock()
        while not stop.is_set():
            t0 = clock()
            try:
                n = _samples(await send())
                ok = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - counted, the last one reported
                ok, n = False, 0
                last_error[:] = [exc]
            t1 = clock()
            completed.append((t1 - t0, ok, n))
            if t1 - t_yield > 0.001:  # a request that never suspends must not starve the window timer
                await asyncio.sleep(0)
                t_yield = clock()

    def error_text() -> str:
        if not last_error:
            return ""
        exc = last_error[0]
        return f"{type(exc).__name__}: {str(exc).strip()[:300]}"

    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    windows: list[Window] = []
    try:
        await asyncio.sleep(warmup_s)
        if mark:
            await mark()
        seen = len(completed)
        while True:
            w0, c0 = time.perf_counter(), time.process_time()
            await asyncio.sleep(window_s)
            w1, c1 = time.perf_counter(), time.process_time()
            new, seen = completed[seen:], len(completed)
            if mark:
                await mark()
            win = Window(w0, w1, [lat for lat, ok, _ in new if ok], errors=sum(1 for _, ok, _ in new if not ok),
                         cpu_s=c1 - c0, samples=sum(n for _, ok, n in new if ok))
            windows.append(win)
            if progress:
                progress(f"{label} c={concurrency}: window {len(windows)} {win.throughput:.0f} req/s")
            if raise_if_all_fail and win.errors and not win.latencies_s:
                raise ClientError(f"{label} at concurrency {concurrency}: every request failed: {error_text() or 'unknown error'}")
            if rule is None or rule.done(windows):
                break
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return merge(windows, rule, error_text())


async def sweep_async(cfg: SweepConfig, progress=None) -> Series:
    levels = cfg.concurrency
    plan = prepare(cfg.target, cfg.model, cfg.version, cfg.batch_size, cfg.dynamic_dim, cfg.samples)
    client = AioClient(cfg.target, max(levels))
    try:
        send = plan.send_on(client, cfg.version)
        try:  # one request first: a bad input fails here with Triton's message, not in a window
            await send()
        except Exception as exc:  # noqa: BLE001
            raise ClientError(f"{cfg.label}: the first request failed: {exc}") from None
        series = Series(cfg.label, cfg.model, cfg.target.protocol, cfg.target.url, plan.batch_size)
        for c in levels:
            marks = WindowMarks(client.client, plan.model, plan.version)
            m = await measure_level(send, c, cfg.window_s, cfg.warmup_s, cfg.rule, cfg.label, progress, mark=marks)
            series.points.append(Point(c, m, plan.batch_size, marks.breakdown(m.merged)))
        return series
    finally:
        await client.close()


def sweep(cfg: SweepConfig, progress=None) -> Series:
    """Run one sweep (blocking); one ``Series`` of points, one per concurrency level."""
    return asyncio.run(sweep_async(cfg, progress))


__all__ = [
    "CLIENT_BOUND_PCT", "Point", "Series", "SweepConfig", "Target", "measure_level", "parse_concurrency", "parse_target",
    "sweep",
]
