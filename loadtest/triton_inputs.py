"""Inputs for Locust's Triton users, prepared from each model's metadata and config: the
model's tensors with concrete shapes (``--batch-size``, ``--dynamic-dim``), random valid
tensors, or sample files for BYTES inputs (``--samples``).

Resolved once per process and model (``resolve_plan``) by the users of ``triton_users`` and by
the preflight of ``triton_run``. Needs numpy and tritonclient only, never tritonctl: data types,
shapes and random values come from ``triton_wire.py``, the generated copy of tritonctl's wire
layer (integers within the ``values:`` ranges tritonctl build writes into each model's config).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from tritonclient.utils import InferenceServerException

from triton_wire import config_values, metadata_shape, numpy_dtype, random_array, sample_files

@dataclass
class RequestInput:
    """One input of a request: its name, wire datatype and concrete shape (batch and dynamic dims filled in)."""

    name: str
    datatype: str
    shape: list[int]
    values: tuple[float, float] | None = None  # [low, high) of random values (the model's values:)


@dataclass
class RequestPlan:
    """What one user sends to one model: resolved once per process and model."""

    model: str
    version: str
    inputs: list[RequestInput]
    outputs: list[str]
    max_batch_size: int
    requested: str = ""  # the version asked for ("" = the server's choice, per version policy)
    samples: list[bytes] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.model}/{self.version or 'latest'}"


def random_tensor(spec: RequestInput, rng: np.random.Generator) -> np.ndarray:
    dtype = numpy_dtype(spec.datatype)
    if dtype is None:
        raise ValueError(f"input {spec.name}: datatype {spec.datatype} is not supported by the load test")
    if spec.datatype == "BYTES":
        raise ValueError(f"input {spec.name} is BYTES: give sample files with --samples")
    return random_array(dtype, spec.shape, rng, spec.values)


def load_samples(folder: str) -> list[bytes]:
    files = sample_files(folder)
    out = []
    for f in files:
        with open(f, "rb") as fh:
            out.append(fh.read())
    return out


class ModelNotFound(Exception):
    """The server answers, but not with this model (or the model's inputs cannot be prepared)."""


class ServerUnreachable(Exception):
    """Nothing answers at the endpoint (refused, DNS, TLS, a timeout): not a statement about a model."""


def _server_answers(client) -> bool:
    try:
        return bool(client.is_server_live())
    except Exception:  # noqa: BLE001 - any failure to get an answer means: unreachable
        return False


def _metadata_and_config(client, protocol: str, model: str, version: str):
    if protocol == "grpc":
        md = client.get_model_metadata(model, version, as_json=True)
        cfg = client.get_model_config(model, version, as_json=True).get("config", {})
        inputs = [RequestInput(i["name"], i["datatype"], [int(d) for d in i["shape"]]) for i in md.get("inputs", [])]
        outputs = [o["name"] for o in md.get("outputs", [])]
    else:
        md = client.get_model_metadata(model, version)
        cfg = client.get_model_config(model, version)
        inputs = [RequestInput(i["name"], i["datatype"], [int(d) for d in i["shape"]]) for i in md.get("inputs", [])]
        outputs = [o["name"] for o in md.get("outputs", [])]
    values = config_values(cfg)
    for spec in inputs:
        spec.values = values.get(spec.name)
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


def resolve_plan(client, protocol: str, model: str, version: str, options, url: str = "") -> RequestPlan:
    """What to send to ``model`` at ``url`` (the endpoint ``client`` talks to, for messages).

    A refused gRPC connection comes back from tritonclient as the same exception as an unknown
    model; asking whether the server is live tells them apart (``ServerUnreachable`` vs
    ``ModelNotFound``).
    """
    try:
        ready = client.is_model_ready(model, version)
    except (InferenceServerException, OSError) as exc:
        detail = exc.message() if isinstance(exc, InferenceServerException) else str(exc)
        if not _server_answers(client):
            raise ServerUnreachable(
                f"cannot reach the server at {url or 'the endpoint'} over {protocol} ({detail}); check --host / "
                "--grpc-host and that Triton is up"
            ) from None
        raise ModelNotFound(f"model '{model}': {detail}") from exc
    if not ready:
        have = server_models(client, protocol)
        raise ModelNotFound(
            f"model '{model}'{' version ' + version if version else ''} is not ready on the server "
            f"(ready models: {', '.join(have) or 'none'}); pass one of them with --models, or load it"
        )
    inputs, outputs, mbs, resolved = _metadata_and_config(client, protocol, model, version)
    plan = RequestPlan(model=model, version=resolved, inputs=inputs, outputs=outputs, max_batch_size=mbs,
                     requested=version)
    for spec in plan.inputs:
        spec.shape = metadata_shape(spec.shape, mbs, options.batch_size, options.dynamic_dim)
    if any(s.datatype == "BYTES" for s in plan.inputs):
        plan.samples = load_samples(options.samples)
        if not plan.samples:
            raise ModelNotFound(
                f"model '{model}' takes BYTES input(s) ({', '.join(s.name for s in plan.inputs)}) and "
                f"--samples '{options.samples}' has no *.png/*.jpg files; point --samples at a folder of "
                "images (make loadtest generates examples/digits_samples-like PNGs)"
            )
    return plan
