"""What the local CPU backends share: read a model config, merge a dynamic batch into one model
call, split the results back, and answer each request on its own.

This module runs inside Triton's Python backend stub (imported by
``<backend-directory>/{onnxruntime,pytorch}/model.py``) and is kept free of heavy imports and of
``triton_python_backend_utils``: the caller passes its ``pb_utils`` in, so the batching logic is
unit-testable without a server.

Semantics, chosen to match Triton's native backends:
  * requests of one ``execute()`` call whose inputs agree on every non-batch dimension and dtype
    are concatenated along axis 0 and run as ONE model call (numpy, no per-element loops);
  * requests with other shapes (ragged batches) form their own groups, one call per group;
  * if a merged call fails, each request of that group is retried alone, so a bad request gets
    its own error response and its batch neighbours still get their answers;
  * outputs whose dtype or batch size disagree with the config are errors of that request.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np

from tritonctl.wire.dtypes import numpy_dtype

#: config parameters the local CPU backends read their intra-op thread count from (the native
#: backends' own names); `tritonctl tune --threads` sets the same keys
ONNXRUNTIME_INTRA_OP_THREADS = "intra_op_thread_count"
PYTORCH_INTRA_OP_THREADS = "INTRA_OP_THREAD_COUNT"


class ConfigError(Exception):
    """The model config does not fit the model file (refused at initialize, model not loaded)."""


@dataclass
class ConfigTensor:
    """One input or output as the model config declares it (not models.yaml's ``spec.TensorSpec``)."""

    name: str
    data_type: str
    dims: list[int]
    optional: bool = False

    @cached_property  # read for every tensor of every request
    def numpy_dtype(self):
        return numpy_dtype(self.data_type)


@dataclass
class ModelInfo:
    """The parts of a Triton model config (JSON form, as the Python backend receives it) we use."""

    name: str
    max_batch_size: int
    inputs: list[ConfigTensor]
    outputs: list[ConfigTensor]
    parameters: dict[str, str] = field(default_factory=dict)
    default_model_filename: str = ""
    instance_count: int = 1

    @classmethod
    def from_args(cls, args: dict[str, str]) -> "ModelInfo":
        return cls.from_config(json.loads(args["model_config"]))

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> "ModelInfo":
        def specs(items):
            return [
                ConfigTensor(
                    name=t["name"],
                    data_type=t.get("data_type", "TYPE_INVALID"),
                    dims=[int(d) for d in t.get("dims", [])],
                    optional=bool(t.get("optional", False)),
                )
                for t in items or []
            ]

        params = {k: str(v.get("string_value", "")) for k, v in (cfg.get("parameters") or {}).items()}
        count = sum(int(g.get("count", 1) or 1) for g in cfg.get("instance_group") or []) or 1
        return cls(
            name=cfg.get("name", "?"),
            max_batch_size=int(cfg.get("max_batch_size", 0) or 0),
            inputs=specs(cfg.get("input")),
            outputs=specs(cfg.get("output")),
            parameters=params,
            default_model_filename=cfg.get("default_model_filename", "") or "",
            instance_count=count,
        )

    @property
    def batching(self) -> bool:
        return self.max_batch_size > 0

    def full_shape(self, spec: ConfigTensor) -> list[int]:
        """The shape a request tensor has: batch dimension (-1) first when batching is on."""
        return ([-1] if self.batching else []) + list(spec.dims)

    def int_parameter(self, *keys: str, default: int) -> int:
        """First of ``keys`` present in the config parameters, as an int; ``default`` otherwise."""
        for key in keys:
            if key in self.parameters and self.parameters[key].strip() != "":
                try:
                    return int(self.parameters[key])
                except ValueError as exc:
                    raise ConfigError(
                        f"model '{self.name}': parameter '{key}' must be an integer, got "
                        f"'{self.parameters[key]}'"
                    ) from exc
        return default


def default_thread_count(instance_count: int) -> int:
    """Threads per instance so that all instances together use the machine's cores once."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, instance_count))


def model_file(args: dict[str, str], info: ModelInfo, default_name: str) -> str:
    """``<model dir>/<version>/<default_model_filename or default_name>``, as the native backends pick it."""
    name = info.default_model_filename or default_name
    path = os.path.join(args["model_repository"], args["model_version"], name)
    if not os.path.exists(path):
        raise ConfigError(
            f"model '{info.name}': unable to find '{path}' (version {args['model_version']}); "
            f"put the model file there or set default_model_filename in config.pbtxt"
        )
    return path


def _request_label(request, index: int) -> str:
    try:
        rid = request.request_id()
    except Exception:  # pragma: no cover - stub API differences
        rid = ""
    return f"request '{rid}'" if rid else f"request #{index} of the batch"


def _error_response(pb_utils, message: str):
    code = getattr(getattr(pb_utils, "TritonError", None), "INVALID_ARG", None)
    err = pb_utils.TritonError(message, code) if code is not None else pb_utils.TritonError(message)
    return pb_utils.InferenceResponse(output_tensors=[], error=err)


RunFn = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


class Batcher:
    """Runs ``run(inputs) -> outputs`` (dicts of numpy arrays by config name) over a list of requests."""

    def __init__(self, info: ModelInfo, run: RunFn):
        self.info = info
        self.run = run

    # -- reading requests -------------------------------------------------------------------
    def _read(self, pb_utils, request) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for spec in self.info.inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, spec.name)
            if tensor is None:
                if spec.optional:
                    continue
                raise ValueError(f"input '{spec.name}' is missing")
            arr = tensor.as_numpy()
            want = spec.numpy_dtype
            if want is not None and want != np.object_ and arr.dtype != want:
                raise ValueError(f"input '{spec.name}' has dtype {arr.dtype}, the config says {spec.data_type}")
            arrays[spec.name] = arr
        if self.info.batching and len(arrays) > 1:
            sizes = {name: (a.shape[0] if a.ndim else 0) for name, a in arrays.items()}
            if len(set(sizes.values())) != 1:
                raise ValueError(f"inputs disagree on the batch size: {sizes}")
        return arrays

    @staticmethod
    def _signature(arrays: dict[str, np.ndarray]):
        # _read fills ``arrays`` in config order, so equal signatures need no sorting
        return tuple((n, a.shape[1:], a.dtype) for n, a in arrays.items())

    # -- running -----------------------------------------------------------------------------
    def _run_checked(self, inputs: dict[str, np.ndarray], batch: int | None) -> dict[str, np.ndarray]:
        outputs = self.run(inputs)
        checked = {}
        for spec in self.info.outputs:
            if spec.name not in outputs:
                raise RuntimeError(
                    f"model '{self.info.name}' produced no output '{spec.name}' "
                    f"(it produced {sorted(outputs)})"
                )
            arr = np.asarray(outputs[spec.name])
            want = spec.numpy_dtype
            if want is not None and want != np.object_ and arr.dtype != want:
                raise RuntimeError(
                    f"output '{spec.name}' of model '{self.info.name}' has dtype {arr.dtype}, "
                    f"the config says {spec.data_type}"
                )
            if batch is not None and (arr.ndim == 0 or arr.shape[0] != batch):
                raise RuntimeError(
                    f"output '{spec.name}' of model '{self.info.name}' has shape {list(arr.shape)}, "
                    f"expected a batch dimension of {batch} first"
                )
            checked[spec.name] = arr
        return checked

    def execute(self, requests: list, pb_utils) -> list:
        responses: list = [None] * len(requests)
        groups: dict[Any, list[tuple[int, dict[str, np.ndarray]]]] = {}
        for i, request in enumerate(requests):
            try:
                arrays = self._read(pb_utils, request)
            except Exception as exc:
                responses[i] = _error_response(
                    pb_utils, f"model '{self.info.name}', {_request_label(request, i)}: {exc}"
                )
                continue
            key = self._signature(arrays) if self.info.batching else ("single", i)
            groups.setdefault(key, []).append((i, arrays))

        for members in groups.values():
            self._execute_group(members, requests, responses, pb_utils)
        return responses

    def _respond(self, pb_utils, outputs: dict[str, np.ndarray]):
        return pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor(name, np.ascontiguousarray(arr)) for name, arr in outputs.items()]
        )

    def _execute_group(self, members, requests, responses, pb_utils) -> None:
        if len(members) > 1:
            sizes = [next(iter(a.values())).shape[0] if a else 0 for _, a in members]
            names = members[0][1].keys()
            merged = {n: np.concatenate([a[n] for _, a in members], axis=0) for n in names}
            try:
                outputs = self._run_checked(merged, sum(sizes))
            except Exception:
                outputs = None  # retry one by one below: only the bad request fails
            if outputs is not None:
                # row slices of the merged outputs: views, no copies (np.split costs ~3x more per request)
                start = 0
                for (i, _), size in zip(members, sizes):
                    end = start + size
                    responses[i] = self._respond(pb_utils, {n: arr[start:end] for n, arr in outputs.items()})
                    start = end
                return
        for i, arrays in members:
            batch = (next(iter(arrays.values())).shape[0] if arrays else 0) if self.info.batching else None
            try:
                outputs = self._run_checked(arrays, batch)
                responses[i] = self._respond(pb_utils, outputs)
            except Exception as exc:
                responses[i] = _error_response(
                    pb_utils,
                    f"model '{self.info.name}', {_request_label(requests[i], i)}: inference failed: "
                    f"{str(exc).strip()}",
                )
