"""The arithmetic of Triton's statistics extension: counters, their differences, the breakdown.

Triton keeps cumulative counters per model version (``GET /v2/models/<name>/stats``, gRPC
``ModelStatistics``): successful requests and their total duration, and, per request, the time
spent queued, preparing inputs (compute input), running the model (compute infer) and
collecting outputs (compute output), plus how many inferences (samples) ran in how many model
executions. perf_analyzer reads them before and after each window and divides by the requests
in between; ``parse`` + ``diff`` do the same for ``tritonctl.stats`` (bench, tune, crosscheck)
and for the Locust run's Triton tab.

``overhead`` is what the server's request time holds beyond the four parts (request and
response handling, the ensemble scheduler, the hop to a Python-backend stub that the backend
does not report as compute); ``Breakdown.outside_ms(client_avg_ms)`` is the client's time the
server never saw (serialization, the network, the client's own event loop).

The counters are cumulative per model *version*: a reload resets them, which ``diff`` reports
as ``CountersReset`` rather than as negative times.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

#: server parts of a request, in the order they happen (and stack in the plot)
PARTS = ("queue", "compute_input", "compute_infer", "compute_output", "overhead")


class CountersReset(ValueError):
    """A counter went down between two snapshots: the model was reloaded in between."""


@dataclass(frozen=True)
class Counters:
    """Triton's cumulative statistics of one model version (durations in ns)."""

    success_count: int = 0
    success_ns: int = 0
    fail_count: int = 0
    fail_ns: int = 0
    queue_ns: int = 0
    compute_input_ns: int = 0
    compute_infer_ns: int = 0
    compute_output_ns: int = 0
    inference_count: int = 0
    execution_count: int = 0


Snapshot = dict  # (model name, version) -> Counters


def _int(v) -> int:
    # gRPC's JSON writes uint64 as strings and leaves zero fields out; HTTP writes numbers
    return int(v or 0)


def parse(payload: dict) -> Snapshot:
    """The statistics JSON of either protocol -> {(name, version): Counters}."""
    out = {}
    for m in payload.get("model_stats", []) or []:
        s = m.get("inference_stats", {}) or {}

        def part(key):
            d = s.get(key, {}) or {}
            return _int(d.get("count")), _int(d.get("ns"))

        sc, sns = part("success")
        fc, fns = part("fail")
        out[(m.get("name", ""), str(m.get("version", "")))] = Counters(
            success_count=sc, success_ns=sns, fail_count=fc, fail_ns=fns,
            queue_ns=part("queue")[1], compute_input_ns=part("compute_input")[1],
            compute_infer_ns=part("compute_infer")[1], compute_output_ns=part("compute_output")[1],
            inference_count=_int(m.get("inference_count")), execution_count=_int(m.get("execution_count")),
        )
    return out


@dataclass
class Breakdown:
    """Per-request averages (ms) of the successful requests between two snapshots of one model version."""

    model: str
    version: str
    requests: int
    failures: int
    inferences: int
    executions: int
    request_ms: float  # the server's whole time per request (Triton's request success duration)
    queue_ms: float
    compute_input_ms: float
    compute_infer_ms: float
    compute_output_ms: float

    @property
    def compute_ms(self) -> float:
        return self.compute_input_ms + self.compute_infer_ms + self.compute_output_ms

    @property
    def overhead_ms(self) -> float:
        """The request time not in queue or compute (perf_analyzer's "overhead"; never below 0)."""
        return max(0.0, self.request_ms - self.queue_ms - self.compute_ms)

    @property
    def batch_size(self) -> float:
        """Samples per model execution: what dynamic batching achieved (nan without executions)."""
        return self.inferences / self.executions if self.executions else float("nan")

    def outside_ms(self, client_avg_ms: float) -> float:
        """The client's average latency the server did not see (transport, serialization, client)."""
        return client_avg_ms - self.request_ms

    def parts_ms(self) -> dict[str, float]:
        return {p: getattr(self, f"{p}_ms") for p in PARTS}

    def as_dict(self) -> dict:
        d = asdict(self)
        d.update(overhead_ms=self.overhead_ms, batch_size=self.batch_size)
        return d


def diff(before: Snapshot, after: Snapshot, model: str, version: str) -> Breakdown:
    """The breakdown of ``model`` ``version`` between two snapshots (zero requests: zeros, nan batch).

    ``version`` "" means the version of ``model`` that served the most requests in between (the one
    the server's version policy picked for requests that named none).
    """
    if not str(version):
        served = [(after[k].success_count - before.get(k, Counters()).success_count, k[1])
                  for k in after if k[0] == model]
        version = max(served)[1] if served else ""
    key = (model, str(version))
    if key not in after:
        have = ", ".join(f"{n}/{v}" for n, v in sorted(after)) or "none"
        raise KeyError(f"no statistics for model '{model}' version {version} (the server reports: {have})")
    a, b = after[key], before.get(key, Counters())
    d = {f.name: getattr(a, f.name) - getattr(b, f.name) for f in fields(Counters)}
    if any(v < 0 for v in d.values()):
        raise CountersReset(f"model '{model}' version {version}: Triton's counters went down between two "
                            "reads (the model was reloaded); measure again")
    n = d["success_count"]
    per = (lambda ns: ns / n / 1e6) if n else (lambda ns: 0.0)
    return Breakdown(
        model=model, version=str(version), requests=n, failures=d["fail_count"],
        inferences=d["inference_count"], executions=d["execution_count"], request_ms=per(d["success_ns"]),
        queue_ms=per(d["queue_ns"]), compute_input_ms=per(d["compute_input_ns"]),
        compute_infer_ms=per(d["compute_infer_ns"]), compute_output_ms=per(d["compute_output_ns"]),
    )


def diff_all(before: Snapshot, after: Snapshot) -> list[Breakdown]:
    """A breakdown for every model version in ``after`` that served or failed a request in between."""
    out = []
    for name, version in sorted(after):
        b = diff(before, after, name, version)
        if b.requests or b.failures:
            out.append(b)
    return out
