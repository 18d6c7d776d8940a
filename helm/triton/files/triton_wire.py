"""Generated from tools/tritonctl/wire/ by `make wire-copies` (tools/chart/wire_bundle.py): do not edit.

tritonctl's wire layer (data types, shapes, random inputs, URLs, statistics arithmetic) for programs
that run without tritonctl: the Locust files and the chart's helm-test script. numpy + stdlib only.
"""

from __future__ import annotations


# ========================================================================================
# tritonctl/wire/dtypes.py
# ========================================================================================
"""The one data-type table: every name a tensor type has on the way from models.yaml to the wire.

One row per Triton data type, with its name in each place tritonctl meets it:

=============  ===============  ========  ==========  =============  ===================
models.yaml    config.pbtxt     wire      numpy       ONNX           onnxruntime
=============  ===============  ========  ==========  =============  ===================
float32        TYPE_FP32        FP32      float32     FLOAT          tensor(float)
string         TYPE_STRING      BYTES     object      STRING         tensor(string)
=============  ===============  ========  ==========  =============  ===================

(and so on below). numpy has no bfloat16: ``numpy_dtype("TYPE_BF16")`` is None. The spec lists
the types an exported PyTorch model can declare; the unsigned types wider than 8 bits have no
torch dtype, so models.yaml does not offer them.

Stdlib only (numpy is imported when a numpy dtype is asked for): the CPU backends import this
module inside Triton's Python stub (``server.distribution.server_env`` puts the tritonctl
package on the stub's PYTHONPATH), and models.yaml validation must stay cheap. The load test and
the chart's smoke test read the same table from their generated ``triton_wire.py``.
"""


from dataclasses import dataclass


@dataclass(frozen=True)
class DataType:
    triton: str  # model_config.proto DataType name (config.pbtxt)
    wire: str  # the datatype string of the inference protocol (HTTP/gRPC, tritonclient)
    spec: str | None  # models.yaml dtype (None: not offered there)
    numpy: str | None  # numpy dtype name (None: numpy has none); a name, so importing this is free
    onnx: str  # onnx.TensorProto element type name
    ort: str  # onnxruntime's NodeArg.type


TABLE: tuple[DataType, ...] = (
    DataType("TYPE_BOOL", "BOOL", "bool", "bool", "BOOL", "tensor(bool)"),
    DataType("TYPE_UINT8", "UINT8", "uint8", "uint8", "UINT8", "tensor(uint8)"),
    DataType("TYPE_UINT16", "UINT16", None, "uint16", "UINT16", "tensor(uint16)"),
    DataType("TYPE_UINT32", "UINT32", None, "uint32", "UINT32", "tensor(uint32)"),
    DataType("TYPE_UINT64", "UINT64", None, "uint64", "UINT64", "tensor(uint64)"),
    DataType("TYPE_INT8", "INT8", "int8", "int8", "INT8", "tensor(int8)"),
    DataType("TYPE_INT16", "INT16", "int16", "int16", "INT16", "tensor(int16)"),
    DataType("TYPE_INT32", "INT32", "int32", "int32", "INT32", "tensor(int32)"),
    DataType("TYPE_INT64", "INT64", "int64", "int64", "INT64", "tensor(int64)"),
    DataType("TYPE_FP16", "FP16", "float16", "float16", "FLOAT16", "tensor(float16)"),
    DataType("TYPE_BF16", "BF16", "bfloat16", None, "BFLOAT16", "tensor(bfloat16)"),
    DataType("TYPE_FP32", "FP32", "float32", "float32", "FLOAT", "tensor(float)"),
    DataType("TYPE_FP64", "FP64", "float64", "float64", "DOUBLE", "tensor(double)"),
    DataType("TYPE_STRING", "BYTES", "string", "object", "STRING", "tensor(string)"),
)

_BY_TRITON = {d.triton: d for d in TABLE}
_BY_WIRE = {d.wire: d for d in TABLE}

#: models.yaml dtype -> config.pbtxt data type
SPEC_TO_TRITON = {d.spec: d.triton for d in TABLE if d.spec}
#: onnx.TensorProto element type name -> config.pbtxt data type
ONNX_TO_TRITON = {d.onnx: d.triton for d in TABLE}
#: onnxruntime NodeArg.type -> config.pbtxt data type
ORT_TO_TRITON = {d.ort: d.triton for d in TABLE}
#: str(torch.dtype) -> models.yaml dtype: models.yaml names each type as torch does (torch.float32
#: -> float32); torch has no string tensors
TORCH_TO_SPEC = {f"torch.{d.spec}": d.spec for d in TABLE if d.spec and d.spec != "string"}


def lookup(data_type: str) -> DataType | None:
    """'TYPE_FP32', 'FP32', 'TYPE_STRING' or 'BYTES' (or 'STRING') -> its row; None when unknown."""
    if data_type in _BY_TRITON:
        return _BY_TRITON[data_type]
    if data_type == "STRING":
        return _BY_TRITON["TYPE_STRING"]
    return _BY_WIRE.get(data_type)


def wire_dtype(data_type: str) -> str:
    """'TYPE_FP32' or 'FP32' -> 'FP32'; 'TYPE_STRING' -> 'BYTES' (the name on the wire)."""
    row = lookup(data_type)
    if row is not None:
        return row.wire
    return data_type[5:] if data_type.startswith("TYPE_") else data_type


def numpy_dtype(data_type: str):
    """The numpy dtype of a Triton type (config or wire name); None when numpy has none or it is unknown."""
    row = lookup(data_type)
    if row is None or row.numpy is None:
        return None
    import numpy as np

    return np.dtype(row.numpy)


# ========================================================================================
# tritonctl/wire/shapes.py
# ========================================================================================
"""How long a dynamic (-1) dimension is when nobody says, and the request shape of an input.

models.yaml may give each dynamic dimension a ``range: {min, opt, max}``; without one,
``DYNAMIC_DIM`` is used everywhere a length is needed, on the build side through
``TensorSpec.dim_range``: the ONNX/TensorRT export profile (min/opt/max), the parity cases (all
three) and the config's warm-up sample (opt). A client facing a served model knows only ``-1``:
it sends ``opt`` (``tritonctl bench --dynamic-dim``, ``tune``, Locust's ``--dynamic-dim``, the
chart's smoke test) or draws between ``min`` and ``max`` (``tritonctl infer --random``), lengths
the default export profile accepts.
"""


from typing import NamedTuple, Sequence


class DimLengths(NamedTuple):
    min: int
    opt: int
    max: int


#: min/opt/max of a dynamic dimension without a ``range`` in models.yaml
DYNAMIC_DIM = DimLengths(min=1, opt=8, max=32)


def request_shape(dims: Sequence[int], batch_size: int | None, dynamic: int = DYNAMIC_DIM.opt) -> list[int]:
    """A config's ``dims`` (no batch dimension) -> a request's shape: ``[batch_size] + dims`` when the
    model batches (``batch_size`` not None), every -1 replaced by ``dynamic``."""
    shape = [dynamic if int(d) < 0 else int(d) for d in dims]
    return ([int(batch_size)] if batch_size is not None else []) + shape


def metadata_shape(shape: Sequence[int], max_batch_size: int, batch_size: int = 1,
                   dynamic: int = DYNAMIC_DIM.opt) -> list[int]:
    """A metadata shape (batch dimension included, as -1, when max_batch_size > 0) -> a request's
    shape: the batch ``min(batch_size, max_batch_size)``, every other -1 ``dynamic``."""
    if max_batch_size > 0 and len(shape):
        return request_shape(shape[1:], min(batch_size, max_batch_size), dynamic)
    return request_shape(shape, None, dynamic)


# ========================================================================================
# tritonctl/wire/inputs.py
# ========================================================================================
"""Random valid inputs: the one generator behind the parity gate, ``infer --random``, ``bench``,
``tune``, Locust and the chart's smoke test.

Integers are drawn from the input's ``values:`` range of models.yaml ([low, high), low included,
high excluded), else from ``DEFAULT_INT_VALUES``. ``tritonctl build`` writes the ``values:`` of a
model's inputs into its config.pbtxt (``parameters { key: "tritonctl.values" ... }``, JSON
``{input: [low, high]}``): a client that sees only the server reads them back with
``config_values`` and draws what the parity gate proved, so ids stay below an embedding's size.
Floats are standard normal (uniform in ``values:`` when given), booleans 0/1, BYTES random bytes.
"""


import glob
import json
import os
from typing import Mapping, Sequence

import numpy as np

#: [low, high) integer inputs without ``values:`` are drawn from (docs/models-yaml.md)
DEFAULT_INT_VALUES = (0, 10)
#: the config.pbtxt parameter carrying the inputs' ``values:`` (ignored by Triton's backends)
VALUES_PARAMETER = "tritonctl.values"
#: bytes per element of a random BYTES tensor
RANDOM_BYTES = 8
#: the files a folder of samples for BYTES inputs (encoded images) offers
SAMPLE_PATTERNS = ("*.png", "*.jpg", "*.jpeg")


def values_parameter(ranges: Mapping[str, Sequence[float]]) -> str:
    """{input: (low, high)} -> the string ``VALUES_PARAMETER`` holds (JSON, keys sorted)."""
    return json.dumps({k: [_number(v) for v in r] for k, r in sorted(ranges.items())}, separators=(",", ":"))


def _number(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def config_values(config: Mapping) -> dict[str, tuple[float, float]]:
    """{input: (low, high)} from a model config dict (Triton's field names, either protocol);
    empty when the model carries none (not built by tritonctl, or no ``values:``)."""
    param = ((config.get("parameters") or {}).get(VALUES_PARAMETER) or {}).get("string_value", "")
    if not param:
        return {}
    try:
        parsed = json.loads(param)
        return {str(k): (v[0], v[1]) for k, v in parsed.items()}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return {}  # a hand-edited, malformed parameter: fall back to the defaults, as without one


def random_array(dtype, shape: Sequence[int], rng: np.random.Generator,
                 values: Sequence[float] | None = None) -> np.ndarray:
    """A random array of numpy ``dtype`` (``np.object_`` for BYTES) and ``shape``; ``values``: the
    input's [low, high) (integers default to ``DEFAULT_INT_VALUES``)."""
    dtype = np.dtype(dtype)
    shape = [int(d) for d in shape]
    if dtype == np.object_:
        return np.array([rng.bytes(RANDOM_BYTES) for _ in range(int(np.prod(shape)))], dtype=np.object_).reshape(shape)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        low, high = values if values is not None else DEFAULT_INT_VALUES
        return rng.integers(int(low), int(high), size=shape).astype(dtype)
    if values is not None:
        return rng.uniform(float(values[0]), float(values[1]), size=shape).astype(dtype)
    return rng.standard_normal(size=shape).astype(dtype)


def sample_files(folder: str | None) -> list[str]:
    """The sample files (``SAMPLE_PATTERNS``) in ``folder``, sorted; empty without a folder."""
    if not folder:
        return []
    return sorted(f for pattern in SAMPLE_PATTERNS for f in glob.glob(os.path.join(folder, pattern)))


def bytes_tensor(blob: bytes, shape: Sequence[int]) -> np.ndarray:
    """A BYTES tensor of ``shape`` whose every element is ``blob`` (an encoded image, a sample)."""
    shape = [int(d) for d in shape]
    return np.array([blob] * int(np.prod(shape)), dtype=np.object_).reshape(shape)


# ========================================================================================
# tritonctl/wire/urls.py
# ========================================================================================
"""Triton's default ports and the one parser of endpoint URLs (the scheme's TLS kept).

``grpc://h:p``, ``grpcs://h``, ``http://h:p/prefix``, ``https://h`` or ``h:p``: one ``Target``
(protocol, ``host:port[/prefix]`` as tritonclient takes it, TLS). A URL without a port gets the
caller's default for the protocol (Triton's 8001/8000 for tritonctl; a browser's 80 for Locust's
``--host``), and 443 with TLS.
"""


from dataclasses import dataclass
from typing import Mapping
from urllib.parse import urlsplit

PROTOCOLS = ("grpc", "http")
DEFAULT_HOST = "localhost"
DEFAULT_HTTP_PORT = 8000
DEFAULT_GRPC_PORT = 8001
DEFAULT_METRICS_PORT = 8002
DEFAULT_PORTS = {"http": DEFAULT_HTTP_PORT, "grpc": DEFAULT_GRPC_PORT, "metrics": DEFAULT_METRICS_PORT}
DEFAULT_URLS = {p: f"{DEFAULT_HOST}:{DEFAULT_PORTS[p]}" for p in PROTOCOLS}
TLS_PORT = 443
#: scheme -> (protocol, TLS)
SCHEMES = {"grpc": ("grpc", False), "grpcs": ("grpc", True), "http": ("http", False), "https": ("http", True)}


class UrlError(ValueError):
    """A URL that names no Triton endpoint (an unknown scheme or protocol)."""


@dataclass(frozen=True)
class Target:
    """One endpoint: protocol, ``host:port[/prefix]`` (what tritonclient takes) and TLS."""

    protocol: str  # grpc | http
    url: str  # host:port[/prefix]
    ssl: bool = False

    def __str__(self) -> str:
        scheme = self.protocol + ("s" if self.ssl else "")
        return f"{scheme}://{self.url}"


def parse_url(text: str | None, protocol: str | None = None, ports: Mapping[str, int] | None = None) -> Target:
    """One endpoint URL -> ``Target``. Without a scheme, ``protocol`` (default gRPC) picks it;
    without a URL, the protocol's default URL. ``ports``: the port of a URL that names none
    (default: Triton's). A scheme that contradicts ``protocol`` is an error."""
    ports = {**DEFAULT_PORTS, **(ports or {})}
    text = (text or "").strip()
    if "://" in text:
        u = urlsplit(text)
        scheme = u.scheme.lower()
        if scheme not in SCHEMES:
            raise UrlError(f"URL '{text}': scheme '{scheme}' is not grpc://, grpcs://, http:// or https://")
        proto, ssl = SCHEMES[scheme]
        if protocol and protocol != proto:
            raise UrlError(f"URL '{text}' says {proto} but --protocol is {protocol}")
        port = u.port or (TLS_PORT if ssl else ports[proto])
        path = u.path.rstrip("/") if proto == "http" else ""
        return Target(proto, f"{u.hostname}:{port}{path}", ssl)
    proto = protocol or "grpc"
    if proto not in PROTOCOLS:
        raise UrlError(f"protocol '{proto}' is not one of {', '.join(PROTOCOLS)}")
    if not text:
        return Target(proto, DEFAULT_URLS[proto])
    host, _, rest = text.partition(":")
    port, slash, path = rest.partition("/")
    return Target(proto, f"{host}:{port or ports[proto]}{slash + path.rstrip('/') if proto == 'http' else ''}")


# ========================================================================================
# tritonctl/wire/stats.py
# ========================================================================================
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
