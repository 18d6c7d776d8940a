"""Locust load test for Triton: tritonclient gRPC and HTTP users, thresholds, reports.

The same file drives a local ``tritonctl serve`` and a cluster (Service, Ingress, or the
in-cluster Locust of ``k8s/locust/``). It depends on locust and tritonclient only (numpy comes
with tritonclient): no tritonctl import, so it runs unchanged in a plain Locust image.

Run it::

    # the UI (http://localhost:8089), against the local server
    locust -f loadtest/locustfile.py --host http://localhost:8000 ModelGrpcUser ModelHttpUser
    # headless, with thresholds and reports (exit status 1 when a threshold breaks)
    locust -f loadtest/locustfile.py --headless -u 8 -r 4 -t 30s --models linear,digits \
        --max-fail-ratio 0 --max-p99-ms 500 --csv reports/lt --html reports/lt.html ModelGrpcUser
    # a ramp: add a shape file (step or spike); --users / --run-time size it
    locust -f loadtest/locustfile.py,loadtest/shapes/step.py --headless -u 16 -t 60s ModelHttpUser

Where to send requests (each option also reads the environment variable in brackets):

* ``--host`` [LOCUST_HOST]: Triton's HTTP endpoint, ``http://localhost:8000`` by default
  (``https://`` turns on TLS; a path prefix of an Ingress is kept).
* ``--grpc-host`` [TRITON_GRPC_HOST]: Triton's gRPC endpoint ``host:port``; by default the
  host of ``--host`` on port 8001 (``grpcs://host:443`` turns on TLS).
* ``--models`` [TRITON_MODELS]: comma-separated ``model`` or ``model:version`` for the
  generic users (``ModelGrpcUser``, ``ModelHttpUser``); ``linear`` by default.

What each request sends: random valid tensors built from the model's metadata and config
(batch dimension ``--batch-size``, other variable dimensions ``--dynamic-dim``), or, for a
model whose inputs are BYTES (``digits_pipeline``: one encoded PNG/JPEG per request), the
files of ``--samples`` [TRITON_SAMPLES] in turn.

Every call is reported to Locust's request event: request type ``grpc`` / ``http``, name
``model/version``, response time, response size (bytes of the outputs), exceptions as
failures. A model the server does not have stops the run with a message naming it and the
models the server has, and exit status 2.
"""

from __future__ import annotations

import gc
import glob
import itertools
import json
import logging
import os
import random
import time
import weakref
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# gRPC under gevent: must run before any channel exists (Locust's own gRPC example does this).
import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

import gevent  # noqa: E402
import numpy as np  # noqa: E402
import tritonclient.grpc as grpcclient  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from geventhttpclient import HTTPClient  # noqa: E402
from locust import User, events, task  # noqa: E402
from locust.exception import StopUser  # noqa: E402
from locust.runners import WorkerRunner  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

log = logging.getLogger("loadtest")

DEFAULT_HTTP = "http://localhost:8000"
DEFAULT_MODELS = "linear"
SAMPLE_PATTERNS = ("*.png", "*.jpg", "*.jpeg")
_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SAMPLES = os.path.normpath(os.path.join(_HERE, "..", "examples", "digits_samples"))


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------
@events.init_command_line_parser.add_listener
def _add_arguments(parser):
    # LocustArgumentParser.add_argument (not a group's) knows include_in_web_ui
    g = t = parser
    g.add_argument("--grpc-host", env_var="TRITON_GRPC_HOST", default="", include_in_web_ui=True,
                   help="Triton gRPC endpoint host:port (grpcs:// for TLS); default: host of --host, port 8001")
    g.add_argument("--models", env_var="TRITON_MODELS", default=DEFAULT_MODELS, include_in_web_ui=True,
                   help="comma-separated model[:version] for ModelGrpcUser/ModelHttpUser (default: %(default)s)")
    g.add_argument("--batch-size", env_var="TRITON_BATCH_SIZE", type=int, default=1, include_in_web_ui=True,
                   help="batch dimension of each request for models with max_batch_size > 0 (default: %(default)s)")
    g.add_argument("--dynamic-dim", env_var="TRITON_DYNAMIC_DIM", type=int, default=16, include_in_web_ui=True,
                   help="size of every other variable (-1) dimension (default: %(default)s)")
    g.add_argument("--samples", env_var="TRITON_SAMPLES", default=DEFAULT_SAMPLES, include_in_web_ui=False,
                   help="folder of PNG/JPEG files for models with BYTES inputs (default: examples/digits_samples)")
    g.add_argument("--fresh-inputs", env_var="TRITON_FRESH_INPUTS", action="store_true", default=False,
                   include_in_web_ui=False,
                   help="new random tensors for every request (default: each user cycles through a few "
                        "prepared requests, as perf_analyzer reuses its data: the generator then spends its "
                        "CPU on the wire, not in numpy)")
    g.add_argument("--request-timeout", env_var="TRITON_REQUEST_TIMEOUT", type=float, default=30.0,
                   include_in_web_ui=False, help="seconds before a request counts as failed (default: %(default)s)")
    t.add_argument("--max-fail-ratio", env_var="LOADTEST_MAX_FAIL_RATIO", type=float, default=None,
                   include_in_web_ui=False, help="largest tolerated share of failed requests, 0..1 (e.g. 0.01)")
    t.add_argument("--max-p99-ms", env_var="LOADTEST_MAX_P99_MS", type=float, default=None,
                   include_in_web_ui=False, help="largest tolerated 99th percentile response time over all requests")
    t.add_argument("--min-requests", env_var="LOADTEST_MIN_REQUESTS", type=int, default=None,
                   include_in_web_ui=False, help="fewest requests per request name (catches a run that sent nothing)")
    t.add_argument("--shape-steps", env_var="LOADTEST_SHAPE_STEPS", type=int, default=4, include_in_web_ui=False,
                   help="steps of the step shape (default: %(default)s)")


def _options(environment):
    return environment.parsed_options


# ------------------------------------------------------------------------------------------
# endpoints
# ------------------------------------------------------------------------------------------
def http_endpoint(host: str | None) -> tuple[str, bool]:
    """'http://h:8000[/prefix]' -> ('h:8000[/prefix]', ssl) as tritonclient.http wants it."""
    host = (host or DEFAULT_HTTP).strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    u = urlsplit(host)
    port = u.port or (443 if u.scheme == "https" else 80)
    return f"{u.hostname}:{port}{u.path}", u.scheme == "https"


def grpc_endpoint(grpc_host: str | None, http_host: str | None) -> tuple[str, bool]:
    """--grpc-host, or the host of --host on port 8001 -> ('h:8001', ssl)."""
    if grpc_host:
        g = grpc_host.strip()
        if "://" not in g:
            g = "grpc://" + g
        u = urlsplit(g)
        ssl = u.scheme == "grpcs"
        return f"{u.hostname}:{u.port or (443 if ssl else 8001)}", ssl
    h = urlsplit((http_host or DEFAULT_HTTP) if "://" in (http_host or DEFAULT_HTTP) else "http://" + http_host)
    return f"{h.hostname}:8001", False


def parse_models(text: str) -> list[tuple[str, str]]:
    """'a,b:2' -> [('a', ''), ('b', '2')]."""
    out = []
    for item in (text or "").split(","):
        item = item.strip()
        if item:
            name, _, version = item.partition(":")
            out.append((name.strip(), version.strip()))
    if not out:
        raise ValueError("--models is empty; name at least one model, e.g. --models linear")
    return out


# Every gRPC channel, to close while gevent's hub still runs: a channel (or a call) that
# Python's final garbage collection finalizes after the hub is gone deadlocks inside grpc, and
# the Locust process then never exits (grpc's gevent mode, seen with grpcio 1.85).
_GRPC_CLIENTS: weakref.WeakSet = weakref.WeakSet()


def grpc_client(url: str, ssl: bool):
    client = grpcclient.InferenceServerClient(url=url, ssl=ssl)
    _GRPC_CLIENTS.add(client)
    return client


@events.quitting.add_listener
def _close_grpc_channels(environment, **_kw):
    for client in list(_GRPC_CLIENTS):
        try:
            client.close()
        except Exception:  # noqa: BLE001 - closing twice, a broken channel: nothing to keep
            pass
    gc.collect()  # finalize what is left of the calls now, while the hub can still run them


# ------------------------------------------------------------------------------------------
# inputs from metadata and config
# ------------------------------------------------------------------------------------------
_NP = {
    "FP32": np.float32, "FP16": np.float16, "FP64": np.float64, "INT8": np.int8, "INT16": np.int16,
    "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8, "UINT16": np.uint16, "UINT32": np.uint32,
    "UINT64": np.uint64, "BOOL": np.bool_, "BYTES": np.object_,
}


@dataclass
class TensorSpec:
    name: str
    datatype: str
    shape: list[int]


@dataclass
class ModelPlan:
    """What one user sends to one model: resolved once per process and model."""

    model: str
    version: str
    inputs: list[TensorSpec]
    outputs: list[str]
    max_batch_size: int
    requested: str = ""  # the version asked for ("" = the server's choice, per version policy)
    samples: list[bytes] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.model}/{self.version or 'latest'}"


def concrete_shape(shape, max_batch_size: int, batch_size: int, dynamic_dim: int) -> list[int]:
    """Metadata shape (batch dim included when max_batch_size > 0) -> a concrete shape."""
    dims = list(shape)
    out = []
    for i, d in enumerate(dims):
        if d >= 0:
            out.append(int(d))
        elif i == 0 and max_batch_size > 0:
            out.append(min(batch_size, max_batch_size))
        else:
            out.append(dynamic_dim)
    return out


def random_tensor(spec: TensorSpec, rng: np.random.Generator) -> np.ndarray:
    dtype = _NP.get(spec.datatype)
    if dtype is None:
        raise ValueError(f"input {spec.name}: datatype {spec.datatype} is not supported by the load test")
    if spec.datatype == "BYTES":
        raise ValueError(f"input {spec.name} is BYTES: give sample files with --samples")
    if spec.datatype == "BOOL":
        return rng.integers(0, 2, size=spec.shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        # small non-negative ints are valid token ids, masks and indices for any model
        return rng.integers(0, 2, size=spec.shape).astype(dtype)
    return rng.standard_normal(size=spec.shape).astype(dtype)


def load_samples(folder: str) -> list[bytes]:
    files = sorted(itertools.chain.from_iterable(glob.glob(os.path.join(folder, p)) for p in SAMPLE_PATTERNS))
    out = []
    for f in files:
        with open(f, "rb") as fh:
            out.append(fh.read())
    return out


class ModelNotFound(Exception):
    pass


class TritonRequestError(Exception):
    """A request Triton answered with an error. tritonclient's exception keeps no ``args``, so
    Locust's failure table would show it as a bare ``InferenceServerException()``."""


def _metadata_and_config(client, protocol: str, model: str, version: str):
    if protocol == "grpc":
        md = client.get_model_metadata(model, version, as_json=True)
        cfg = client.get_model_config(model, version, as_json=True).get("config", {})
        inputs = [TensorSpec(i["name"], i["datatype"], [int(d) for d in i["shape"]]) for i in md.get("inputs", [])]
        outputs = [o["name"] for o in md.get("outputs", [])]
    else:
        md = client.get_model_metadata(model, version)
        cfg = client.get_model_config(model, version)
        inputs = [TensorSpec(i["name"], i["datatype"], [int(d) for d in i["shape"]]) for i in md.get("inputs", [])]
        outputs = [o["name"] for o in md.get("outputs", [])]
    versions = md.get("versions") or []
    resolved = version or (max(versions, key=lambda v: int(v) if str(v).isdigit() else -1) if versions else "")
    return inputs, outputs, int(cfg.get("max_batch_size", 0) or 0), str(resolved)


def server_models(client, protocol: str) -> list[str]:
    try:
        if protocol == "grpc":
            index = client.get_model_repository_index(as_json=True).get("models", [])
        else:
            index = client.get_model_repository_index()
        return sorted({m["name"] for m in index if m.get("state", "READY") == "READY"})
    except Exception:  # noqa: BLE001 - only used to enrich an error message
        return []


def resolve_plan(client, protocol: str, model: str, version: str, options) -> ModelPlan:
    try:
        ready = client.is_model_ready(model, version)
    except InferenceServerException as exc:
        raise ModelNotFound(f"model '{model}': {exc.message()}") from exc
    if not ready:
        have = server_models(client, protocol)
        raise ModelNotFound(
            f"model '{model}'{' version ' + version if version else ''} is not ready on the server "
            f"(ready models: {', '.join(have) or 'none'}); pass one of them with --models, or load it"
        )
    inputs, outputs, mbs, resolved = _metadata_and_config(client, protocol, model, version)
    plan = ModelPlan(model=model, version=resolved, inputs=inputs, outputs=outputs, max_batch_size=mbs,
                     requested=version)
    for spec in plan.inputs:
        spec.shape = concrete_shape(spec.shape, mbs, options.batch_size, options.dynamic_dim)
    if any(s.datatype == "BYTES" for s in plan.inputs):
        plan.samples = load_samples(options.samples)
        if not plan.samples:
            raise ModelNotFound(
                f"model '{model}' takes BYTES input(s) ({', '.join(s.name for s in plan.inputs)}) and "
                f"--samples '{options.samples}' has no *.png/*.jpg files; point --samples at a folder of "
                "images (make loadtest generates examples/digits_samples-like PNGs)"
            )
    return plan


# ------------------------------------------------------------------------------------------
# the users
# ------------------------------------------------------------------------------------------
class _TritonUser(User):
    """Shared logic of the gRPC and HTTP users: a subclass names ``model`` (or uses --models)."""

    abstract = True
    protocol = ""
    #: the model this user calls; None: the models of --models, in turn
    model: str | None = None
    version: str = ""

    _plans: dict = {}  # (protocol, url, model, version) -> ModelPlan, shared per process

    def __init__(self, environment):
        super().__init__(environment)
        self.options = _options(environment)
        self.client = None
        self.plans: list[ModelPlan] = []
        self._cycle = None
        self._rng = np.random.default_rng(random.randrange(2**32))
        self._sample_pos = random.randrange(1 << 16)
        self._prepared: dict[str, itertools.cycle] = {}  # plan label -> cycle of ready requests

    #: requests prepared per user and model when --fresh-inputs is off
    PREPARED = 4

    # -- subclass hooks --------------------------------------------------------------------
    def make_client(self):
        raise NotImplementedError

    def endpoint(self) -> str:
        raise NotImplementedError

    def make_input(self, spec: TensorSpec, data: np.ndarray):
        raise NotImplementedError

    def prepare(self, plan: ModelPlan, inputs: list):
        """Input tensors -> a request ready for ``infer`` (built once, sent many times)."""
        raise NotImplementedError

    def infer(self, plan: ModelPlan, request):
        """Send one prepared request; return the size of its outputs in bytes."""
        raise NotImplementedError

    # -- lifecycle -------------------------------------------------------------------------
    def targets(self) -> list[tuple[str, str]]:
        if self.model:
            return [(self.model, self.version)]
        return parse_models(getattr(self.options, "models", DEFAULT_MODELS))

    def on_start(self):
        self.client = self.make_client()
        for model, version in self.targets():
            key = (self.protocol, self.endpoint(), model, version)
            plan = _TritonUser._plans.get(key)
            if plan is None:
                start = time.perf_counter()
                try:
                    plan = resolve_plan(self.client, self.protocol, model, version, self.options)
                except Exception as exc:  # noqa: BLE001 - reported to Locust as a failure
                    self.environment.events.request.fire(
                        request_type=self.protocol, name=f"{model}/metadata",
                        response_time=(time.perf_counter() - start) * 1000, response_length=0,
                        exception=exc, context={},
                    )
                    log.error("%s: %s", type(self).__name__, exc)
                    raise StopUser() from None
                _TritonUser._plans[key] = plan
            self.plans.append(plan)
            if not getattr(self.options, "fresh_inputs", False):
                n = len(plan.samples) if plan.samples else self.PREPARED
                self._prepared[plan.label] = itertools.cycle([self.build_request(plan) for _ in range(n)])
        self._cycle = itertools.cycle(self.plans)

    def on_stop(self):
        close = getattr(self.client, "close", None)
        if close:
            try:
                close()
            except Exception:  # noqa: BLE001
                pass

    def build_request(self, plan: ModelPlan):
        inputs = []
        for spec in plan.inputs:
            if spec.datatype == "BYTES":
                blob = plan.samples[self._sample_pos % len(plan.samples)]
                self._sample_pos += 1
                n = int(np.prod(spec.shape)) if spec.shape else 1
                data = np.array([blob] * n, dtype=np.object_).reshape(spec.shape)
            else:
                data = random_tensor(spec, self._rng)
            inputs.append(self.make_input(spec, data))
        return self.prepare(plan, inputs)

    @task
    def infer_task(self):
        plan = next(self._cycle)
        prepared = self._prepared.get(plan.label)
        request = next(prepared) if prepared is not None else self.build_request(plan)
        start = time.perf_counter()
        length, exc = 0, None
        try:
            length = self.infer(plan, request)
        except InferenceServerException as e:
            exc = TritonRequestError(str(e))
        except Exception as e:  # noqa: BLE001 - socket errors, timeouts: failures, not crashes
            exc = e
        self.environment.events.request.fire(
            request_type=self.protocol, name=plan.label,
            response_time=(time.perf_counter() - start) * 1000, response_length=length,
            exception=exc, context={"model": plan.model, "version": plan.version},
        )


class TritonGrpcUser(_TritonUser):
    """A closed-loop user on Triton's gRPC endpoint (tritonclient.grpc, gevent-safe)."""

    abstract = True
    protocol = "grpc"

    def endpoint(self) -> str:
        return grpc_endpoint(getattr(self.options, "grpc_host", ""), self.host)[0]

    def make_client(self):
        url, ssl = grpc_endpoint(getattr(self.options, "grpc_host", ""), self.host)
        return grpc_client(url, ssl)

    def make_input(self, spec, data):
        i = grpcclient.InferInput(spec.name, list(data.shape), spec.datatype)
        i.set_data_from_numpy(data)
        return i

    def prepare(self, plan, inputs):
        return inputs, [grpcclient.InferRequestedOutput(o) for o in plan.outputs]

    def infer(self, plan, request):
        inputs, outputs = request
        res = self.client.infer(plan.model, inputs, model_version=plan.requested,
                                outputs=outputs, client_timeout=self.options.request_timeout)
        return sum(len(b) for b in res.get_response().raw_output_contents)


@dataclass
class HttpRequest:
    """One prepared HTTP inference: tritonclient's request body (JSON header + binary tensors)."""

    path: str
    body: bytes
    headers: dict


class TritonHttpUser(_TritonUser):
    """A closed-loop user on Triton's HTTP/REST endpoint (tritonclient.http, geventhttpclient).

    tritonclient builds each request body once (``generate_request_body``, the same bytes its
    ``infer`` sends) and the user posts it on its own keep-alive connection: per call the
    generator then spends its CPU on the wire, not on rebuilding JSON (~30 % of the call).
    """

    abstract = True
    protocol = "http"
    _session: HTTPClient | None = None  # the inference connection, opened by make_client
    _prefix = ""  # an Ingress path prefix of --host

    def endpoint(self) -> str:
        return http_endpoint(self.host)[0]

    def make_client(self):
        url, ssl = http_endpoint(self.host)
        t = self.options.request_timeout
        hostport, _, prefix = url.partition("/")
        self._prefix = "/" + prefix if prefix else ""
        host, _, port = hostport.rpartition(":")
        self._session = HTTPClient(host, int(port), ssl=ssl, connection_timeout=t, network_timeout=t,
                                   concurrency=1)
        return httpclient.InferenceServerClient(url=url, ssl=ssl, connection_timeout=t, network_timeout=t)

    def on_stop(self):
        if self._session is not None:
            self._session.close()
        super().on_stop()

    def make_input(self, spec, data):
        i = httpclient.InferInput(spec.name, list(data.shape), spec.datatype)
        i.set_data_from_numpy(data, binary_data=True)
        return i

    def prepare(self, plan, inputs):
        outputs = [httpclient.InferRequestedOutput(o, binary_data=True) for o in plan.outputs]
        body, json_size = httpclient.InferenceServerClient.generate_request_body(inputs, outputs)
        headers = {"Content-Type": "application/octet-stream"}
        if json_size is not None:  # binary tensors follow the JSON header
            headers["Inference-Header-Content-Length"] = str(json_size)
        version = f"/versions/{plan.requested}" if plan.requested else ""
        return HttpRequest(f"{self._prefix}/v2/models/{plan.model}{version}/infer", body, headers)

    def infer(self, plan, request):
        response = self._session.post(request.path, body=request.body, headers=request.headers)
        body = response.read()
        if response.status_code != 200:
            try:
                message = json.loads(body).get("error", body.decode(errors="replace"))
            except ValueError:
                message = body.decode(errors="replace")
            raise InferenceServerException(msg=message, status=str(response.status_code))
        # binary outputs follow the JSON header: their bytes need no decoding
        return len(body) - int(response.get("inference-header-content-length", len(body)))


# Concrete users: each only names its model (None: the models of --models).
class ModelGrpcUser(TritonGrpcUser):
    """The models of --models over gRPC, random valid inputs from their metadata."""


class ModelHttpUser(TritonHttpUser):
    """The models of --models over HTTP, random valid inputs from their metadata."""


class DigitsPipelineGrpcUser(TritonGrpcUser):
    """The digits_pipeline ensemble over gRPC: real PNG digits from --samples."""

    model = "digits_pipeline"


class DigitsPipelineHttpUser(TritonHttpUser):
    """The digits_pipeline ensemble over HTTP: real PNG digits from --samples."""

    model = "digits_pipeline"


# ------------------------------------------------------------------------------------------
# preflight: a model the server does not have stops the run with a clear message
# ------------------------------------------------------------------------------------------
def _user_targets(user_class, options) -> list[tuple[str, str]]:
    if user_class.model:
        return [(user_class.model, user_class.version)]
    return parse_models(options.models)


def preflight(environment) -> list[str]:
    """Errors (one line each) for every model a selected user class cannot call."""
    options = environment.parsed_options
    errors = []
    checked = set()
    for uc in environment.user_classes:
        if not issubclass(uc, _TritonUser):
            continue
        try:
            targets = _user_targets(uc, options)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        host = environment.host or uc.host
        for model, version in targets:
            if uc.protocol == "grpc":
                url, ssl = grpc_endpoint(options.grpc_host, host)
            else:
                url, ssl = http_endpoint(host)
            key = (uc.protocol, url, model, version)
            if key in checked:
                continue
            checked.add(key)
            try:
                if uc.protocol == "grpc":
                    client = grpc_client(url, ssl)
                else:
                    client = httpclient.InferenceServerClient(url=url, ssl=ssl, connection_timeout=10,
                                                              network_timeout=10)
                try:
                    resolve_plan(client, uc.protocol, model, version, options)
                finally:
                    client.close()
            except ModelNotFound as exc:
                errors.append(f"{uc.__name__} ({uc.protocol} {url}): {exc}")
            except Exception as exc:  # noqa: BLE001 - connection refused, DNS, TLS
                errors.append(
                    f"{uc.__name__}: cannot reach Triton over {uc.protocol} at {url} ({exc}); "
                    f"check --host/--grpc-host and that the server is up (tritonctl serve)"
                )
    return errors


@events.test_start.add_listener
def _on_test_start(environment, **_kw):
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    errors = preflight(environment)
    if not errors:
        return
    for e in errors:
        log.error("preflight: %s", e)
    environment.process_exit_code = 2
    if getattr(environment.parsed_options, "headless", False):
        gevent.spawn_later(0.1, environment.runner.quit)
    else:
        gevent.spawn_later(0.1, environment.runner.stop)


# ------------------------------------------------------------------------------------------
# thresholds
# ------------------------------------------------------------------------------------------
def check_thresholds(stats, options) -> list[str]:
    """Broken thresholds, one line each (empty: the run passes)."""
    broken = []
    total = stats.total
    if options.max_fail_ratio is not None and total.fail_ratio > options.max_fail_ratio:
        broken.append(
            f"failure ratio {total.fail_ratio:.4f} > --max-fail-ratio {options.max_fail_ratio} "
            f"({total.num_failures} of {total.num_requests} requests failed)"
        )
    if options.max_p99_ms is not None and total.num_requests:
        p99 = total.get_response_time_percentile(0.99)
        if p99 > options.max_p99_ms:
            broken.append(f"p99 response time {p99:.0f} ms > --max-p99-ms {options.max_p99_ms:g}")
    if options.min_requests is not None:
        entries = [e for e in stats.entries.values() if not e.name.endswith("/metadata")]
        if not entries:
            broken.append(f"no requests were sent (--min-requests {options.min_requests})")
        for e in entries:
            if e.num_requests < options.min_requests:
                broken.append(f"{e.method} {e.name}: {e.num_requests} requests < --min-requests {options.min_requests}")
    return broken


@events.quitting.add_listener
def _on_quitting(environment, **_kw):
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    if environment.process_exit_code == 2:  # preflight already failed the run
        return
    o = environment.parsed_options
    if o.max_fail_ratio is None and o.max_p99_ms is None and o.min_requests is None:
        return
    broken = check_thresholds(environment.stats, o)
    for b in broken:
        log.error("threshold broken: %s", b)
    if not broken:
        log.info("thresholds passed")
    environment.process_exit_code = 1 if broken else 0


__all__ = [
    "DigitsPipelineGrpcUser",
    "DigitsPipelineHttpUser",
    "ModelGrpcUser",
    "ModelHttpUser",
    "TritonGrpcUser",
    "TritonHttpUser",
    "check_thresholds",
    "concrete_shape",
    "parse_models",
]
