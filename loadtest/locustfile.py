"""Locust load test for Triton: the users this project runs, named by their targets.

The machinery lives beside this file, as Locust's own ``examples/grpc`` splits it:
``triton_users.py`` (abstract ``TritonGrpcUser`` / ``TritonHttpUser`` and their options),
``triton_inputs.py`` (inputs prepared from each model's metadata and config) and
``triton_run.py`` (preflight, thresholds) and ``triton_stats.py`` (Triton's own statistics: the
web UI's Triton tab and ``<csv prefix>_triton.csv``). A locustfile of your own imports them the same way.
The same files drive a local ``tritonctl serve`` and a cluster (Service, Ingress, or the
in-cluster Locust of ``k8s/locust/``, whose ConfigMap carries all of them). They depend on
locust and tritonclient only (numpy comes with tritonclient): no tritonctl import, so they run
unchanged in a plain Locust image.

Run it::

    # every option, Locust's and ours (`locust -f loadtest/locustfile.py --help` shows Locust's
    # only: Locust prints its help before it imports a locustfile, locustio/locust#2917)
    python loadtest/locustfile.py --help
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

# triton_users first: it turns on grpc's gevent mode before any channel exists.
from triton_users import TritonGrpcUser, TritonHttpUser

import triton_run  # noqa: E402,F401 - registers the preflight and the thresholds
import triton_stats  # noqa: E402,F401 - the Triton tab of the web UI, Triton's numbers in the reports


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


if __name__ == "__main__":
    # `python locustfile.py ARGS` is `locust -f locustfile.py ARGS`, with one difference: the modules
    # above have already registered our options when Locust builds its parser, so --help lists them
    # (`locust --help` never imports the locustfile). Locust imports this file again under its own
    # name; the options' modules are imported once, so nothing registers twice.
    import sys

    from locust.main import main

    if not {"-f", "--locustfile"} & set(sys.argv[1:]) and not any(a.startswith("--locustfile=") for a in sys.argv[1:]):
        sys.argv[1:1] = ["-f", __file__]
    sys.argv[0] = "locust"
    main()
