"""`helm test` smoke inference against a Triton release, over gRPC and HTTP.

Runs in the Triton SDK image (tritonclient installed). With no model named, it reads the
repository index and each ready model's metadata and config, then sends random valid data (integers
within the ``values:`` ranges tritonctl build writes into the config) to the first ready model whose
inputs are numeric; so it works with any repository. ``triton_wire.py`` beside it is generated
from tritonctl's wire layer (``make wire-copies``).

Environment: TRITON_HOST, HTTP_PORT, GRPC_PORT, TEST_MODEL, TEST_MODEL_VERSION, TEST_INPUTS (JSON list
of {name, datatype, shape, data}), TIMEOUT_SECONDS, and RESTRICTED_API_HEADER with RESTRICTED_API_KEY
when the release restricts Triton APIs (server.restrictedApis): every call then carries the key.
"""

from __future__ import annotations

import json
import os
import sys
import time

# generated from tritonctl's wire layer; the ConfigMap mounts it beside this script
from triton_wire import DYNAMIC_DIM, config_values, metadata_shape, numpy_dtype, random_array


def random_inputs(metadata, config=None):
    """{input name: (datatype, numpy array)} for a model's metadata dict (and config dict: its
    max_batch_size and the ``values:`` ranges tritonctl build writes); batch 1, every other
    dynamic dimension DYNAMIC_DIM.opt long. None when an input is not numeric (BYTES inputs
    such as encoded images need real data: set tests.model)."""
    import numpy as np

    config = config or {}
    rng = np.random.default_rng(0)
    values = config_values(config)
    mbs = int(config.get("max_batch_size", 0) or 0)
    out = {}
    for spec in metadata["inputs"]:
        dtype = numpy_dtype(spec["datatype"])
        if dtype is None or dtype == np.object_:
            return None
        shape = metadata_shape([int(d) for d in spec["shape"]], mbs, 1, DYNAMIC_DIM.opt)
        out[spec["name"]] = (spec["datatype"], random_array(dtype, shape, rng, values.get(spec["name"])))
    return out


def given_inputs(specs):
    """{input name: (datatype, numpy array)} from tests.inputs; missing data is random."""
    import numpy as np

    out = {}
    for spec in specs:
        shape = [int(d) for d in spec["shape"]]
        if spec["datatype"] == "BYTES":
            data = np.array([str(v).encode() for v in spec.get("data") or [""]], dtype=np.object_).reshape(shape)
        elif spec.get("data"):
            data = np.array(spec["data"], dtype=numpy_dtype(spec["datatype"])).reshape(shape)
        else:
            data = random_inputs({"inputs": [spec]})[spec["name"]][1]
        out[spec["name"]] = (spec["datatype"], data)
    return out


def restricted_api_headers():
    """({HTTP header: key}, {gRPC metadata: key}) for the APIs the release restricts; Triton
    checks HTTP header <header> and gRPC metadata triton-grpc-protocol-<header>. Empty when none."""
    header, key = os.environ.get("RESTRICTED_API_HEADER", ""), os.environ.get("RESTRICTED_API_KEY", "")
    if not (header and key):
        return {}, {}
    return {header: key}, {f"triton-grpc-protocol-{header}": key}


def wait_ready(client, timeout, headers=None):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if client.is_server_ready(headers=headers):
                return
        except Exception:  # connection refused while the Service has no ready pod yet
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"server not ready after {timeout}s")
        time.sleep(2)


def candidates(http_client, model, version, headers=None):
    if model:
        return [(model, version)]
    index = http_client.get_model_repository_index(headers=headers)
    return [(m["name"], m.get("version", "")) for m in index if m.get("state") == "READY"]


def infer(module, client, model, version, inputs, headers=None):
    tensors = []
    for name, (datatype, data) in inputs.items():
        t = module.InferInput(name, list(data.shape), datatype)
        t.set_data_from_numpy(data)
        tensors.append(t)
    result = client.infer(model, tensors, model_version=version or "", headers=headers)
    response = result.get_response()
    outputs = response["outputs"] if isinstance(response, dict) else response.outputs
    return [o["name"] if isinstance(o, dict) else o.name for o in outputs]


def main() -> int:
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient

    host = os.environ.get("TRITON_HOST", "localhost")
    http_url = f"{host}:{os.environ.get('HTTP_PORT', '8000')}"
    grpc_url = f"{host}:{os.environ.get('GRPC_PORT', '8001')}"
    model = os.environ.get("TEST_MODEL", "")
    version = os.environ.get("TEST_MODEL_VERSION", "")
    timeout = int(os.environ.get("TIMEOUT_SECONDS", "120"))
    specs = json.loads(os.environ.get("TEST_INPUTS") or "[]")

    http_headers, grpc_headers = restricted_api_headers()

    http = httpclient.InferenceServerClient(http_url)
    grpc = grpcclient.InferenceServerClient(grpc_url)
    wait_ready(http, timeout, http_headers)
    print(f"ready: http://{http_url}/v2/health/ready and grpc://{grpc_url}")
    if http_headers:
        print(f"restricted APIs: sending the key as {', '.join([*http_headers, *grpc_headers])}")

    for name, ver in candidates(http, model, version, http_headers):
        if specs:
            inputs = given_inputs(specs)
        else:
            inputs = random_inputs(http.get_model_metadata(name, model_version=ver or "", headers=http_headers),
                                   http.get_model_config(name, model_version=ver or "", headers=http_headers))
        if inputs is None:
            print(f"skip {name}: non-numeric input (set tests.model and real data to test it)")
            continue
        for label, module, client, headers in (("grpc", grpcclient, grpc, grpc_headers),
                                               ("http", httpclient, http, http_headers)):
            outputs = infer(module, client, name, ver, inputs, headers)
            print(f"{label}: {name} -> {', '.join(outputs)}")
        print("smoke inference passed")
        return 0
    print("no ready model with numeric inputs to infer; set tests.model", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
