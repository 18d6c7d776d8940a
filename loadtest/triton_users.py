"""Reusable Locust users for Triton: abstract gRPC and HTTP users over tritonclient, and the
preparation of their inputs from each model's metadata and config.

A locustfile imports the abstract users and names its targets (``loadtest/locustfile.py`` does,
as Locust's own ``examples/grpc`` splits ``grpc_user.py`` from its locustfile)::

    from triton_users import TritonGrpcUser

    class ResnetUser(TritonGrpcUser):
        model = "resnet18"          # or leave it None: the models of --models, in turn

Importing this module registers the options the users read (``--grpc-host``, ``--models``,
``--batch-size``, ``--dynamic-dim``, ``--samples``, ``--fresh-inputs``, ``--request-timeout``)
and turns on grpc's gevent mode, which must happen before any channel exists: import it before
anything that opens one.

It depends on locust and tritonclient only (numpy comes with tritonclient), never on tritonctl:
the files run unchanged in a plain Locust image (the ConfigMap of ``k8s/locust/`` carries them
side by side, and Locust puts the locustfile's folder on ``sys.path`` while importing it).

Extending: a subclass overrides the hooks of ``_TritonUser`` (``make_client``, ``endpoint``,
``make_input``, ``prepare``, ``infer``). Every call is reported to Locust's request event with
request type ``grpc``/``http``, name ``model/version``, and ``context`` = ``{"model", "version"}``
for listeners such as a web-UI tab.
"""

from __future__ import annotations

import gc
import itertools
import json
import logging
import os
import random
import time
import weakref
from dataclasses import dataclass

# Locust first: importing it monkey-patches the standard library (the `locust` command has done so
# before it imports a locustfile; `python locustfile.py` has not), and gRPC's gevent mode must start
# after that patching and before any channel exists (Locust's own gRPC example does this).
import locust  # noqa: F401
import grpc.experimental.gevent as grpc_gevent  # noqa: E402

grpc_gevent.init_gevent()

import numpy as np  # noqa: E402
import tritonclient.grpc as grpcclient  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from geventhttpclient import HTTPClient  # noqa: E402
from locust import User, events, task  # noqa: E402
from locust.exception import StopUser  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from triton_inputs import RequestInput, RequestPlan, random_tensor, resolve_plan  # noqa: E402
from triton_wire import DEFAULT_URLS, DYNAMIC_DIM, bytes_tensor, parse_url  # noqa: E402

log = logging.getLogger("loadtest")

# Triton's default HTTP endpoint, and the length of a dynamic (-1) dimension that `tritonctl bench`
# and `tune` send too (from triton_wire, the generated copy of tritonctl's wire layer)
DEFAULT_HTTP = "http://" + DEFAULT_URLS["http"]
DEFAULT_DYNAMIC_DIM = DYNAMIC_DIM.opt
#: --host is a URL: without a port it means the scheme's own (an Ingress), not Triton's 8000
_URL_PORTS = {"http": 80}
DEFAULT_MODELS = "linear"
_HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SAMPLES = os.path.normpath(os.path.join(_HERE, "..", "examples", "digits_samples"))


# ------------------------------------------------------------------------------------------
# the options the users read
# ------------------------------------------------------------------------------------------
@events.init_command_line_parser.add_listener
def _add_arguments(parser):
    # LocustArgumentParser.add_argument (not a group's) knows include_in_web_ui
    g = parser
    g.add_argument("--grpc-host", env_var="TRITON_GRPC_HOST", default="", include_in_web_ui=True,
                   help="Triton gRPC endpoint host:port (grpcs:// for TLS); default: host of --host, port 8001")
    g.add_argument("--models", env_var="TRITON_MODELS", default=DEFAULT_MODELS, include_in_web_ui=True,
                   help="comma-separated model[:version] for ModelGrpcUser/ModelHttpUser (default: %(default)s)")
    g.add_argument("--batch-size", env_var="TRITON_BATCH_SIZE", type=int, default=1, include_in_web_ui=True,
                   help="batch dimension of each request for models with max_batch_size > 0 (default: %(default)s)")
    g.add_argument("--dynamic-dim", env_var="TRITON_DYNAMIC_DIM", type=int, default=DEFAULT_DYNAMIC_DIM,
                   include_in_web_ui=True, help="size of every other variable (-1) dimension (default: %(default)s)")
    g.add_argument("--samples", env_var="TRITON_SAMPLES", default=DEFAULT_SAMPLES, include_in_web_ui=False,
                   help="folder of PNG/JPEG files for models with BYTES inputs (default: examples/digits_samples)")
    g.add_argument("--fresh-inputs", env_var="TRITON_FRESH_INPUTS", action="store_true", default=False,
                   include_in_web_ui=False,
                   help="new random tensors for every request (default: each user cycles through a few "
                        "prepared requests, as perf_analyzer reuses its data: the generator then spends its "
                        "CPU on the wire, not in numpy)")
    g.add_argument("--request-timeout", env_var="TRITON_REQUEST_TIMEOUT", type=float, default=30.0,
                   include_in_web_ui=False, help="seconds before a request counts as failed (default: %(default)s)")


# ------------------------------------------------------------------------------------------
# endpoints
# ------------------------------------------------------------------------------------------
def http_endpoint(host: str | None) -> tuple[str, bool]:
    """'http://h:8000[/prefix]' -> ('h:8000[/prefix]', ssl) as tritonclient.http wants it."""
    host = (host or DEFAULT_HTTP).strip()
    target = parse_url(host if "://" in host else "http://" + host, "http", _URL_PORTS)
    return target.url, target.ssl


def grpc_endpoint(grpc_host: str | None, http_host: str | None) -> tuple[str, bool]:
    """--grpc-host (grpcs:// for TLS), or the host of --host on Triton's gRPC port -> ('h:8001', ssl)."""
    if grpc_host:
        target = parse_url(grpc_host, None if "://" in grpc_host else "grpc")
        return target.url, target.ssl
    host = http_endpoint(http_host)[0].split("/", 1)[0].rpartition(":")[0]
    return parse_url(host, "grpc").url, False


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
# the abstract users
# ------------------------------------------------------------------------------------------
class TritonRequestError(Exception):
    """A request Triton answered with an error. tritonclient's exception keeps no ``args``, so
    Locust's failure table would show it as a bare ``InferenceServerException()``."""


class _TritonUser(User):
    """Shared logic of the gRPC and HTTP users: a subclass names ``model`` (or uses --models)."""

    abstract = True
    protocol = ""
    #: the model this user calls; None: the models of --models, in turn
    model: str | None = None
    version: str = ""

    _plans: dict = {}  # (protocol, url, model, version) -> RequestPlan, shared per process

    def __init__(self, environment):
        super().__init__(environment)
        self.options = environment.parsed_options
        self.client = None
        self.plans: list[RequestPlan] = []
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

    def make_input(self, spec: RequestInput, data: np.ndarray):
        raise NotImplementedError

    def prepare(self, plan: RequestPlan, inputs: list):
        """Input tensors -> a request ready for ``infer`` (built once, sent many times)."""
        raise NotImplementedError

    def infer(self, plan: RequestPlan, request):
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
                    plan = resolve_plan(self.client, self.protocol, model, version, self.options, self.endpoint())
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

    def build_request(self, plan: RequestPlan):
        inputs = []
        for spec in plan.inputs:
            if spec.datatype == "BYTES":
                blob = plan.samples[self._sample_pos % len(plan.samples)]
                self._sample_pos += 1
                data = bytes_tensor(blob, spec.shape)
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
