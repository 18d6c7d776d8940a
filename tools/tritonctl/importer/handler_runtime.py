"""Run a TorchServe handler the way TorchServe's Python worker does, one step at a time.

Copied beside each imported Triton Python model (and used by `tritonctl import` to analyse the
handler), so it depends on nothing of tritonctl: only torch and TorchServe's own `ts` package,
which the handler imports anyway. Mirrors TorchServe 0.12's worker: the archive's directory is
the working directory and first import path; the handler is a module path, a `module:function`
entry point or a built-in name (ts.torch_handler.<name>); a class handler is instantiated and
`initialize(context)` called with a `ts.context.Context` built from the archive's manifest and
model-config.yaml; responses are encoded as TorchServe encodes them (bytes as they are, str as
UTF-8, anything else as `json.dumps(value, indent=2)`).
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import os
import sys


class HandlerLoadError(Exception):
    """The handler module or class cannot be loaded."""


class WeightsLoadError(Exception):
    """The serialized file does not load into the model (class)."""


class NoMetrics:
    """Stands in for TorchServe's metrics cache: Triton reports its own per-model metrics."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _model_not_here():
    import torch

    class ModelInItsOwnTritonModel(torch.nn.Module):
        """Placeholder for `handler.model` in the preprocess/postprocess steps: the model itself
        runs as its own (exported) Triton model between them."""

        def forward(self, *args, **kwargs):
            raise RuntimeError("this step runs only preprocess/postprocess; the model is its own Triton model")

    return ModelInItsOwnTritonModel()


def list_classes(module) -> list:
    """TorchServe's list_classes_from_module: classes defined in (not imported into) the module."""
    return [c for _, c in inspect.getmembers(module, inspect.isclass) if c.__module__ == module.__name__]


def decode_body(body: bytes, body_as: str):
    """The request body as TorchServe hands it to the handler for this content type."""
    if body_as == "json":
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return bytearray(body)  # TorchServe forwards undecodable JSON as bytes too
    if body_as == "text":
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            return bytearray(body)
    return bytearray(body)


def encode_response(value) -> bytes:
    """One element of the handler's output list as TorchServe's frontend sends it back."""
    import torch

    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, torch.Tensor):
        buf = io.BytesIO()
        torch.save(value, buf)
        return buf.getvalue()
    return json.dumps(value, indent=2).encode("utf-8")


class HandlerHost:
    """One handler instance, initialised from an extracted archive directory."""

    def __init__(self, model_dir: str, model_name: str, batch_size: int = 1, load_model: bool = True,
                 body_as: str = "bytes") -> None:
        from ts.context import Context, RequestProcessor
        from ts.version import __version__ as ts_version

        self.model_dir = os.path.abspath(model_dir)
        self.body_as = body_as
        self._request_processor = RequestProcessor
        with open(os.path.join(self.model_dir, "MAR-INF", "MANIFEST.json")) as f:
            self.manifest = json.load(f)
        yaml_config = {}
        cfg = self.manifest["model"].get("configFile")
        if cfg:
            import yaml

            with open(os.path.join(self.model_dir, cfg)) as f:
                yaml_config = yaml.safe_load(f) or {}
        # TorchServe's worker runs in the extracted archive, which is first on the import path.
        os.chdir(self.model_dir)
        if self.model_dir not in sys.path:
            sys.path.insert(0, self.model_dir)
        self.context = Context(model_name, self.model_dir, self.manifest, batch_size, None, ts_version,
                               True, NoMetrics(), yaml_config)
        self.context.request_processor = [RequestProcessor({})]
        self.handler, self.entry, initialize = self._load(self.manifest["model"]["handler"])
        if self.handler is not None:
            self._guard_weights(load_model)
        try:
            initialize(self.context)
        except (HandlerLoadError, WeightsLoadError):
            raise
        except Exception as exc:
            raise HandlerLoadError(f"initialize() failed: {type(exc).__name__}: {exc}") from exc

    # -- loading, as ts.model_loader does it ------------------------------------------------
    def _load(self, spec: str):
        module_name, _, function = spec.partition(":")
        module_name = module_name[:-3] if module_name.endswith(".py") else module_name
        module_name = module_name.split("/")[-1]
        try:
            try:
                module = importlib.import_module(module_name)
            except ImportError as first:
                if getattr(first, "name", None) != module_name:
                    raise  # the handler's own module exists but one of its imports failed
                module = importlib.import_module(f".{module_name}", "ts.torch_handler")
        except Exception as exc:
            raise HandlerLoadError(f"handler '{spec}' does not import: {type(exc).__name__}: {exc}") from exc
        function = function or "handle"
        if hasattr(module, function):
            entry = getattr(module, function)
            return None, entry, lambda ctx: entry(None, ctx)
        classes = list_classes(module)
        if len(classes) != 1:
            raise HandlerLoadError(
                f"handler '{spec}' defines {len(classes)} classes ({[c.__name__ for c in classes]}) and no "
                f"'{function}' function; TorchServe needs exactly one handler class or a function entry point"
            )
        try:
            handler = classes[0]()
        except Exception as exc:
            raise HandlerLoadError(f"handler class {classes[0].__name__}() failed: {type(exc).__name__}: {exc}") from exc
        if not hasattr(handler, "handle"):
            raise HandlerLoadError(f"handler class {classes[0].__name__} has no handle() method")
        return handler, handler.handle, handler.initialize

    def _guard_weights(self, load_model: bool) -> None:
        """Name the serialized file when it does not load; in the pre/post steps, load nothing."""
        h = self.handler
        for attr in ("_load_pickled_model", "_load_torchscript_model"):
            original = getattr(h, attr, None)
            if original is None:
                continue
            if not load_model:
                setattr(h, attr, lambda *args, **kwargs: _model_not_here())
                continue

            def guarded(*args, _original=original, _attr=attr, **kwargs):
                try:
                    return _original(*args, **kwargs)
                except Exception as exc:
                    model = self.manifest["model"]
                    what = model.get("serializedFile")
                    into = f" into the class of {model['modelFile']}" if model.get("modelFile") else ""
                    raise WeightsLoadError(f"serialized file '{what}' does not load{into}: {type(exc).__name__}: {exc}") from exc

            setattr(h, attr, guarded)

    # -- the three steps -------------------------------------------------------------------
    def rows(self, bodies: list[bytes]) -> list[dict]:
        self.context.request_processor = [self._request_processor({}) for _ in bodies]
        if self.handler is not None:
            self.handler.context = self.context
        return [{"body": decode_body(b, self.body_as)} for b in bodies]

    def preprocess(self, bodies: list[bytes]):
        return self.handler.preprocess(self.rows(bodies))

    def postprocess(self, outputs, n: int) -> list[bytes]:
        self.rows([b""] * n)
        result = self.handler.postprocess(outputs)
        return self.check_responses(result, n)

    def handle(self, bodies: list[bytes]) -> list[bytes]:
        rows = self.rows(bodies)
        return self.check_responses(self.entry(rows, self.context), len(bodies))

    @staticmethod
    def check_responses(result, n: int) -> list[bytes]:
        if not isinstance(result, list) or len(result) != n:
            got = f"a list of {len(result)}" if isinstance(result, list) else type(result).__name__
            raise ValueError(f"the handler returned {got} for {n} request(s); TorchServe needs one entry per request")
        return [encode_response(v) for v in result]
