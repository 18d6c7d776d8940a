"""The one client layer over tritonclient: a sync face and an async face, for every caller.

The sync face (``make_client`` + functions) serves the CLI (infer, load, unload), the demo, the
launcher's health checks (``server.health``) and tune's repository API calls; the async face
(``AioClient``) sends the closed-loop load of bench, tune and the peer benchmark. Both speak to
a server exactly as any client would (the local Triton or a cluster):

    from tritonctl import client as tc
    c = tc.make_client("localhost:8001", "grpc")          # or "http://localhost:8000"
    cfg = tc.get_config(c, "digits")                     # one dict shape for both protocols
    arrays = tc.random_inputs(cfg, batch_size=4)         # valid random tensors by input name
    outputs = tc.infer(c, "digits", arrays)              # {output name: numpy array}
    image = tc.encode_image("seven.png")                 # [1, 1] BYTES tensor for digits_pipeline
    tc.load_model(c, "digits", config=message)            # explicit mode, with a ModelConfig override

    async with tc.AioClient(Target("grpc", "localhost:8001"), concurrency=16) as ac:
        send = ac.request("digits", arrays, ["logits"])    # built once; each ``await send()`` is one request

``tritonclient`` is imported lazily, so importing this module is cheap.
"""

from __future__ import annotations

import io
from contextlib import closing  # noqa: F401 - `with tc.closing(make_client(...)) as c:` closes it whatever happens
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from tritonctl.endpoints import PROTOCOLS, Target, client_target
from tritonctl.errors import ClientError
from tritonctl.wire import dtypes
from tritonctl.wire.dtypes import wire_dtype  # noqa: F401 - callers name it tc.wire_dtype
from tritonctl.wire.inputs import bytes_tensor, config_values, random_array
from tritonctl.wire.shapes import DYNAMIC_DIM, request_shape


def numpy_dtype(data_type: str) -> np.dtype:
    """numpy dtype of a Triton type (config or wire name); ClientError when numpy has none."""
    dtype = dtypes.numpy_dtype(data_type)
    if dtype is None:
        raise ClientError(f"data type {data_type} has no numpy equivalent here")
    return dtype


# ---------------------------------------------------------------------------------------------
# clients
# ---------------------------------------------------------------------------------------------
def client_module(protocol: str):
    """tritonclient.grpc or tritonclient.http (InferInput, InferRequestedOutput, ...)."""
    if protocol == "grpc":
        import tritonclient.grpc as mod
    elif protocol == "http":
        import tritonclient.http as mod
    else:
        raise ClientError(f"protocol '{protocol}' is not one of {', '.join(PROTOCOLS)}")
    return mod


def split_url(url: str | None, protocol: str | None = None) -> tuple[str, str]:
    """('grpc://h:p' | 'https://h' | 'h:p' | None, protocol) -> (protocol, 'h:p[/prefix]'); TLS is in
    ``client_target(url).ssl``, which ``make_client`` honours."""
    target = client_target(url, protocol)
    return target.protocol, target.url


def make_client(url: str | None = None, protocol: str | None = None, **kwargs):
    """An InferenceServerClient for ``url`` (scheme or ``protocol`` picks gRPC or HTTP; grpcs://
    and https:// turn TLS on)."""
    target = client_target(url, protocol)
    mod = client_module(target.protocol)
    if target.ssl:
        kwargs.setdefault("ssl", True)
    return mod.InferenceServerClient(target.url, **kwargs)


def protocol_of(client) -> str:
    return "grpc" if type(client).__module__.startswith("tritonclient.grpc") else "http"


# int64 fields of model_config.proto / the metadata that gRPC's JSON writes as strings
_INT_KEYS = {
    "dims", "shape", "max_batch_size", "count", "batch_size", "num_versions", "versions",
    "max_queue_delay_microseconds", "preferred_batch_size", "gpus", "label_count",
}


def _normalize(obj: Any, key: str = "") -> Any:
    """gRPC's JSON writes int64 as strings ("dims": ["10"]); make both protocols' dicts equal.

    Model metadata ``versions`` stay strings on both protocols (that is how Triton reports them).
    """
    if isinstance(obj, dict):
        return {k: _normalize(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_normalize(v, key) for v in obj]
    if key in _INT_KEYS and isinstance(obj, str) and obj.lstrip("-").isdigit():
        return int(obj)
    return obj


def call(what: str, fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` with tritonclient's and connection errors as ClientError naming ``what``."""
    from tritonclient.utils import InferenceServerException

    try:
        return fn(*args, **kwargs)
    except InferenceServerException as exc:
        raise ClientError(f"{what}: {exc.message() or exc}") from exc
    except ConnectionError as exc:  # http (geventhttpclient) refuses with OSError subclasses
        raise ClientError(f"{what}: cannot connect ({exc}); is the server running? (`tritonctl serve`)") from exc


def repository_index(client) -> list[dict]:
    """Triton's repository index, [{name, version, state, reason}], the same for both protocols."""
    if protocol_of(client) == "grpc":
        return call("repository index", client.get_model_repository_index, as_json=True).get("models", [])
    return call("repository index", client.get_model_repository_index)


def get_config(client, model: str, version: str = "") -> dict:
    """The model config as a dict with Triton's field names (same shape for gRPC and HTTP)."""
    if protocol_of(client) == "grpc":
        res = call(f"model '{model}' config", client.get_model_config, model, version, as_json=True)
        return _normalize(res.get("config", res))
    return _normalize(call(f"model '{model}' config", client.get_model_config, model, version))


def get_metadata(client, model: str, version: str = "") -> dict:
    """Model metadata: {name, versions, platform, inputs: [{name, datatype, shape}], outputs: [...]}."""
    if protocol_of(client) == "grpc":
        meta = call(f"model '{model}' metadata", client.get_model_metadata, model, version, as_json=True)
    else:
        meta = call(f"model '{model}' metadata", client.get_model_metadata, model, version)
    versions = meta.get("versions")
    meta = _normalize({k: v for k, v in meta.items() if k != "versions"})
    if versions is not None:
        meta["versions"] = [str(v) for v in versions]
    return meta


def config_message(config: Mapping):
    """A config dict (``get_config``, Triton's field names) -> ``model_config_pb2.ModelConfig``."""
    from google.protobuf import json_format
    from tritonclient.grpc import model_config_pb2 as mc

    return json_format.ParseDict(dict(config), mc.ModelConfig(), ignore_unknown_fields=True)


def get_config_message(client, model: str, version: str = ""):
    """The served model config as a ``model_config_pb2.ModelConfig``."""
    return config_message(get_config(client, model, version))


def load_model(client, model: str, config=None) -> None:
    """Load (or reload) ``model`` through the repository API (explicit mode); ``config``: a
    ``ModelConfig`` Triton serves instead of the repository's config.pbtxt (the files stay)."""
    if config is None:
        call(f"load model '{model}'", client.load_model, model)
        return
    from google.protobuf import json_format

    text = json_format.MessageToJson(config, preserving_proto_field_name=True, indent=None)
    call(f"load model '{model}'", client.load_model, model, config=text)


def unload_model(client, model: str, unload_dependents: bool = False) -> None:
    call(f"unload model '{model}'", client.unload_model, model, unload_dependents=unload_dependents)


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
def input_shapes(config: Mapping, batch_size: int = 1, dynamic: int = DYNAMIC_DIM.opt) -> dict[str, list[int]]:
    """Concrete request shapes: batch dimension first when batching, every -1 replaced by ``dynamic``."""
    mbs = int(config.get("max_batch_size", 0) or 0)
    if mbs == 0 and batch_size != 1:
        raise ClientError(f"model '{config.get('name')}' does not batch (max_batch_size 0): use batch size 1")
    if mbs and batch_size > mbs:
        raise ClientError(f"batch size {batch_size} is above model '{config.get('name')}'s max_batch_size {mbs}")
    return {i["name"]: request_shape(i.get("dims", []), batch_size if mbs else None, dynamic)
            for i in config.get("input", [])}


def random_inputs(
    config: Mapping,
    batch_size: int = 1,
    *,
    rng: np.random.Generator | None = None,
    dim_range: tuple[int, int] = (DYNAMIC_DIM.min, DYNAMIC_DIM.max),
) -> dict[str, np.ndarray]:
    """Random tensors every input accepts, from a model config (``get_config``).

    Every -1 dimension gets ONE length drawn from ``dim_range`` (inclusive), shared by all inputs,
    so that e.g. ``input_ids`` and ``attention_mask`` agree. Values come from
    ``wire.inputs.random_array``: integers within the ``values:`` the model's config carries
    (``wire.inputs.config_values``), else its default range.
    """
    rng = rng or np.random.default_rng()
    length = int(rng.integers(dim_range[0], dim_range[1] + 1))
    values = config_values(config)
    dtypes_by_name = {i["name"]: numpy_dtype(i.get("data_type", "TYPE_FP32")) for i in config.get("input", [])}
    return {name: random_array(dtypes_by_name[name], shape, rng, values.get(name))
            for name, shape in input_shapes(config, batch_size, dynamic=length).items()}


def encode_image(image: str | Path | bytes, batch_size: int = 1) -> np.ndarray:
    """Raw image file bytes as a [batch, 1] BYTES tensor (what digits_pipeline's IMAGE takes)."""
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    return bytes_tensor(data, [batch_size, 1])


def image_to_array(image: str | Path | bytes, dims: Iterable[int], dtype=np.float32) -> np.ndarray:
    """Decode an image to a model's [C, H, W] input in [0, 1] (C=1 grayscale, C=3 RGB).

    Single-channel images with a light background (mean > 0.5) are inverted, so a dark digit
    photographed on paper matches models trained white-on-black (like the digits example).
    """
    from PIL import Image

    dims = [int(d) for d in dims]
    if len(dims) != 3 or dims[0] not in (1, 3) or min(dims) <= 0:
        raise ClientError(f"--image needs an input of shape [1|3, H, W]; this model's is {dims}")
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except Exception as exc:
        raise ClientError(f"cannot decode image {image if not isinstance(image, bytes) else '<bytes>'}: {exc}") from exc
    c, h, w = dims
    img = img.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    if c == 1:
        if arr.mean() > 0.5:
            arr = 1.0 - arr
        arr = arr[None, :, :]
    else:
        arr = arr.transpose(2, 0, 1)
    return arr.astype(dtype)


def make_inputs(protocol: str, arrays: Mapping[str, np.ndarray], binary: bool = True) -> list:
    """InferInput objects for ``arrays`` (binary tensor data by default; JSON when binary=False)."""
    mod = client_module(protocol)
    from tritonclient.utils import np_to_triton_dtype

    inputs = []
    for name, arr in arrays.items():
        arr = np.asarray(arr)
        inp = mod.InferInput(name, list(arr.shape), np_to_triton_dtype(arr.dtype))
        if protocol == "http":
            inp.set_data_from_numpy(arr, binary_data=binary)
        else:
            inp.set_data_from_numpy(arr)
        inputs.append(inp)
    return inputs


def infer(
    client,
    model: str,
    arrays: Mapping[str, np.ndarray],
    *,
    version: str = "",
    outputs: Iterable[str] | None = None,
    classes: int = 0,
    binary: bool = True,
    request_id: str = "",
    **kwargs,
) -> dict[str, np.ndarray]:
    """One inference; returns {output name: numpy array}. ``classes=K`` asks for top-K classes
    (Triton's classification extension: BYTES 'score:index[:label]' entries)."""
    protocol = protocol_of(client)
    mod = client_module(protocol)
    requested = None
    if outputs or classes:
        names = list(outputs or [])
        if not names:
            names = [o["name"] for o in get_metadata(client, model, version).get("outputs", [])]
        requested = []
        for n in names:
            if protocol == "http":
                requested.append(mod.InferRequestedOutput(n, binary_data=binary, class_count=classes))
            else:
                requested.append(mod.InferRequestedOutput(n, class_count=classes))
    result = call(
        f"inference on model '{model}'" + (f" version {version}" if version else ""),
        client.infer,
        model,
        make_inputs(protocol, arrays, binary=binary),
        model_version=str(version or ""),
        outputs=requested,
        request_id=request_id,
        **kwargs,
    )
    response = result.get_response(as_json=True) if protocol == "grpc" else result.get_response()
    return {o["name"]: result.as_numpy(o["name"]) for o in response.get("outputs", [])}


def parse_classes(entries: np.ndarray) -> list[list[tuple[float, int, str]]]:
    """Classification output [batch, K] of b'score:index[:label]' -> [[(score, index, label), ...]]."""
    arr = np.asarray(entries)
    if arr.ndim == 1:
        arr = arr[None, :]
    rows = []
    for row in arr:
        parsed = []
        for e in row:
            parts = (e.decode() if isinstance(e, bytes) else str(e)).split(":", 2)
            parsed.append((float(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else parts[1]))
        rows.append(parsed)
    return rows


# ---------------------------------------------------------------------------------------------
# the async face: tritonclient's grpc.aio / http.aio for closed-loop load
# ---------------------------------------------------------------------------------------------
class AioClient:
    """tritonclient's asyncio client for one ``Target`` (bench, tune and the peer benchmark).

    ``request()`` builds a request once (binary tensors both ways, so both protocols carry the
    same bytes) and returns a zero-argument coroutine function sending it: the client spends its
    time on the wire, not in building requests. Use inside one event loop.
    """

    def __init__(self, target: Target, concurrency: int = 1):
        self.target = target
        if target.protocol == "grpc":
            import tritonclient.grpc.aio as mod

            self.client = mod.InferenceServerClient(url=target.url, ssl=target.ssl)
        elif target.protocol == "http":
            import tritonclient.http.aio as mod

            self.client = mod.InferenceServerClient(url=target.url, ssl=target.ssl, conn_limit=max(100, concurrency))
        else:
            raise ClientError(f"protocol '{target.protocol}' is not one of {', '.join(PROTOCOLS)}")
        self.mod = mod

    def request(self, model: str, arrays: Mapping[str, np.ndarray], outputs: Iterable[str] = (), version: str = "",
                datatypes: Mapping[str, str] | None = None):
        """A zero-argument coroutine function sending one prepared request to ``model``.

        ``datatypes`` (input name -> wire datatype) defaults to each array's own dtype.
        """
        from tritonclient.utils import np_to_triton_dtype

        mod, http = self.mod, self.target.protocol == "http"
        inputs = []
        for name, arr in arrays.items():
            i = mod.InferInput(name, list(arr.shape), (datatypes or {}).get(name) or np_to_triton_dtype(arr.dtype))
            if http:
                i.set_data_from_numpy(arr, binary_data=True)
            else:
                i.set_data_from_numpy(arr)
            inputs.append(i)
        requested = [mod.InferRequestedOutput(o, binary_data=True) if http else mod.InferRequestedOutput(o)
                     for o in outputs]
        client, version = self.client, str(version or "")

        def send():
            return client.infer(model, inputs, model_version=version, outputs=requested)

        return send

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> "AioClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
