"""Where a request's time goes on the server: Triton's statistics extension, read over either
protocol; the arithmetic (``parse``, ``diff``, ``Breakdown``) is ``tritonctl.wire.stats``::

    before = stats.read(client, "digits")          # any tritonclient client, gRPC or HTTP
    ...                                            # load
    after = stats.read(client, "digits")
    b = diff(before, after, "digits", "1")         # wire.stats.Breakdown: per-request milliseconds
    b.queue_ms, b.compute_infer_ms, b.overhead_ms, b.batch_size
"""

from __future__ import annotations

import inspect

from tritonctl.client import protocol_of
from tritonctl.wire.stats import Breakdown, CountersReset, Snapshot, diff, parse


def _request(client, model: str, version: str):
    if protocol_of(client) == "grpc":
        return client.get_inference_statistics(model, version, as_json=True)
    return client.get_inference_statistics(model, version)


def read(client, model: str = "", version: str = "") -> Snapshot:
    """Counters of ``model`` (all versions, or ``version``; every model when ``model`` is empty)."""
    return parse(_request(client, model, version))


async def read_async(client, model: str = "", version: str = "") -> Snapshot:
    """``read`` through tritonclient's asyncio clients (grpc.aio, http.aio)."""
    res = _request(client, model, version)
    return parse(await res if inspect.isawaitable(res) else res)


class WindowMarks:
    """Snapshots at the boundaries of measurement windows (``bench.sweep.measure_level``'s ``mark``).

    Awaited before the first window and after each one; ``breakdown(k)`` covers the last ``k``
    windows, the ones a level is reported by. A read that fails (the server went away, a proxy
    without the statistics API) leaves a gap: the breakdown is then None and ``error`` says why.
    """

    def __init__(self, client, model: str, version: str):
        self.client, self.model, self.version = client, model, str(version)
        self.snapshots: list[Snapshot | None] = []
        self.error = ""

    async def __call__(self) -> None:
        try:
            self.snapshots.append(await read_async(self.client, self.model, self.version))
        except Exception as exc:  # noqa: BLE001 - the measurement goes on without the server's side
            self.snapshots.append(None)
            self.error = f"{type(exc).__name__}: {str(exc).strip()[:200]}"

    def breakdown(self, windows: int) -> Breakdown | None:
        if windows < 1 or len(self.snapshots) < windows + 1:
            return None
        before, after = self.snapshots[-(windows + 1)], self.snapshots[-1]
        if before is None or after is None:
            return None
        try:
            return diff(before, after, self.model, self.version)
        except (KeyError, CountersReset) as exc:
            self.error = str(exc)
            return None
