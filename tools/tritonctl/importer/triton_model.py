"""A TorchServe handler's step as a Triton Python-backend model (written by `tritonctl import`).

Parameters (config.pbtxt, from models.yaml):
  role            preprocess | postprocess | whole
  archive_dir     the archive's files beside this model.py (the handler's model_dir)
  ts_model_name   the model name the handler saw under TorchServe (context.model_name)
  body_as         bytes | text | json: how the request body reaches the handler (TorchServe decodes
                  by Content-Type: application/json -> parsed JSON, text/* -> str, else bytes)
  structure       tensor | tuple | list: what preprocess returns / inference returns (pre/post)

preprocess: BODY (TYPE_STRING, one request body per batch row) -> the model's input tensors.
postprocess: the model's output tensors -> RESPONSE (TYPE_STRING, TorchServe's response bytes).
whole: BODY -> RESPONSE through the handler's own handle(), for handlers that cannot be split.

All requests of a dynamic batch go through the handler in one call, as TorchServe's batch did;
a request whose rows fail gets its own error and the others still get their answers.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import triton_python_backend_utils as pb_utils

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from handler_runtime import HandlerHost  # noqa: E402  (copied beside this file)


def _param(config: dict, key: str, default: str | None = None) -> str:
    value = ((config.get("parameters") or {}).get(key) or {}).get("string_value")
    if value is None:
        if default is None:
            raise ValueError(f"model '{config.get('name')}': config.pbtxt needs parameter '{key}'")
        return default
    return value


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.name = config["name"]
        self.role = _param(config, "role")
        self.structure = _param(config, "structure", "tensor")
        self.batching = int(config.get("max_batch_size", 0) or 0) > 0
        self.inputs = [t["name"] for t in config["input"]]
        self.outputs = [t["name"] for t in config["output"]]
        here = os.path.dirname(os.path.abspath(__file__))
        self.host = HandlerHost(
            os.path.join(here, _param(config, "archive_dir")),
            _param(config, "ts_model_name", self.name),
            batch_size=max(1, int(config.get("max_batch_size", 1) or 1)),
            load_model=self.role == "whole",
            body_as=_param(config, "body_as", "bytes"),
        )

    # -- helpers -------------------------------------------------------------------------------
    def _bodies(self, request) -> list[bytes]:
        arr = pb_utils.get_input_tensor_by_name(request, "BODY").as_numpy().reshape(-1)
        return [bytes(b) if not isinstance(b, str) else b.encode() for b in arr]

    def _error(self, request, n: int, exc: Exception):
        rid = request.request_id() or f"#{n} of the batch"
        return pb_utils.InferenceResponse(
            output_tensors=[], error=pb_utils.TritonError(f"model '{self.name}' ({self.role}), request {rid}: {exc}")
        )

    @staticmethod
    def _rows_to_tensors(structure: str, arrays: list[np.ndarray]):
        import torch

        tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
        if structure == "tensor":
            return tensors[0]
        return tuple(tensors) if structure == "tuple" else list(tensors)

    def _strings(self, responses: list[bytes]) -> np.ndarray:
        out = np.array(responses, dtype=object)
        return out.reshape(-1, 1) if self.batching else out.reshape(1)

    # -- the roles -----------------------------------------------------------------------------
    def _run_batch(self, requests, per_request):
        """Run the whole batch in one handler call; if it fails, answer request by request so
        only the bad one fails."""
        try:
            return per_request(requests)
        except Exception:
            if len(requests) == 1:
                raise
        answers = []
        for n, request in enumerate(requests):
            try:
                answers.append(per_request([request])[0])
            except Exception as exc:
                answers.append(self._error(request, n, exc))
        return answers

    def _preprocess(self, requests):
        bodies = [self._bodies(r) for r in requests]
        flat = [b for group in bodies for b in group]
        out = self.host.preprocess(flat)
        tensors = [out] if self.structure == "tensor" else list(out)
        if len(tensors) != len(self.outputs):
            raise ValueError(f"preprocess returned {len(tensors)} tensors, the config declares {len(self.outputs)}")
        arrays = [t.detach().cpu().numpy() for t in tensors]
        for name, a in zip(self.outputs, arrays):
            if a.shape[:1] != (len(flat),):
                raise ValueError(f"preprocess returned {name} with shape {list(a.shape)} for {len(flat)} request rows; "
                                 "it must return one row per request")
        answers, start = [], 0
        for group in bodies:
            rows = slice(start, start + len(group))
            start += len(group)
            tensors = [pb_utils.Tensor(n, a[rows] if self.batching else a[rows][0]) for n, a in zip(self.outputs, arrays)]
            answers.append(pb_utils.InferenceResponse(output_tensors=tensors))
        return answers

    def _postprocess(self, requests):
        per = []
        for r in requests:
            arrays = [pb_utils.get_input_tensor_by_name(r, n).as_numpy() for n in self.inputs]
            per.append(arrays if self.batching else [a[None] for a in arrays])
        counts = [p[0].shape[0] for p in per]
        merged = [np.concatenate([p[i] for p in per], axis=0) for i in range(len(self.inputs))]
        responses = self.host.postprocess(self._rows_to_tensors(self.structure, merged), sum(counts))
        answers, start = [], 0
        for c in counts:
            answers.append(pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("RESPONSE", self._strings(responses[start:start + c]))]))
            start += c
        return answers

    def _whole(self, requests):
        bodies = [self._bodies(r) for r in requests]
        responses = self.host.handle([b for group in bodies for b in group])
        answers, start = [], 0
        for group in bodies:
            answers.append(pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor("RESPONSE", self._strings(responses[start:start + len(group)]))]))
            start += len(group)
        return answers

    def execute(self, requests):
        step = {"preprocess": self._preprocess, "postprocess": self._postprocess, "whole": self._whole}[self.role]
        try:
            return self._run_batch(requests, step)
        except Exception as exc:
            return [self._error(r, n, exc) for n, r in enumerate(requests)]
