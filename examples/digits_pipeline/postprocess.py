"""digits_postprocess: the classifier's logits -> top-k labels and scores.

A Triton Python-backend model (the last step of the digits_pipeline ensemble), doing what a
TorchServe handler's ``postprocess`` does: softmax, top-k, map indices to labels.

Config (written by `tritonctl build` from models.yaml):
  input  logits TYPE_FP32   [10]
  output LABELS TYPE_STRING [k]    output SCORES TYPE_FP32 [k]
  parameters: top_k (default: the outputs' dims); labels from `labels.txt` in the model's
  directory (one per line, line i = class i), else the class index.

One vectorised call for the whole batch (all requests of a dynamic batch concatenated);
self-contained (numpy only), so it runs unchanged in the official Triton image.
"""

from __future__ import annotations

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.name = config.get("name", "digits_postprocess")
        self.batching = int(config.get("max_batch_size", 0) or 0) > 0
        dims = {o["name"]: [int(d) for d in o["dims"]] for o in config.get("output", [])}
        for name in ("LABELS", "SCORES"):
            if name not in dims:
                raise ValueError(f"model '{self.name}': config.pbtxt needs an output named '{name}'")
        raw = ((config.get("parameters") or {}).get("top_k") or {}).get("string_value") or str(dims["SCORES"][-1])
        try:
            self.k = int(raw)
        except ValueError as exc:
            raise ValueError(f"model '{self.name}': parameter top_k must be an integer, got '{raw}'") from exc
        for name in ("LABELS", "SCORES"):
            if dims[name] != [-1] and dims[name] != [self.k]:
                raise ValueError(
                    f"model '{self.name}': output {name} has dims {dims[name]} but top_k is {self.k}; "
                    f"make them agree (dims: [{self.k}])"
                )
        n_classes = [int(d) for d in pb_utils.get_input_config_by_name(config, "logits")["dims"]][-1]
        if self.k < 1 or (n_classes > 0 and self.k > n_classes):
            raise ValueError(f"model '{self.name}': top_k {self.k} must be between 1 and {n_classes}")
        self.labels = None
        model_dir = args["model_repository"]
        for path in (os.path.join(model_dir, "labels.txt"), os.path.join(model_dir, args["model_version"], "labels.txt")):
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    self.labels = np.array([line.strip().encode() for line in f if line.strip()], dtype=object)
                break

    def _answer(self, logits: np.ndarray):
        z = logits - logits.max(axis=-1, keepdims=True)
        probs = np.exp(z)
        probs /= probs.sum(axis=-1, keepdims=True)
        top = np.argsort(-probs, axis=-1, kind="stable")[..., : self.k]
        scores = np.take_along_axis(probs, top, axis=-1).astype(np.float32)
        if self.labels is not None and top.max(initial=-1) < len(self.labels):
            labels = self.labels[top]
        else:
            labels = np.char.encode(top.astype(str)).astype(object)
        return labels, scores

    def execute(self, requests):
        arrays, responses = [], [None] * len(requests)
        for n, request in enumerate(requests):
            arr = pb_utils.get_input_tensor_by_name(request, "logits").as_numpy()
            arrays.append(arr if self.batching else arr[None])
        sizes = [a.shape[0] for a in arrays]
        try:
            labels, scores = self._answer(np.concatenate(arrays, axis=0).astype(np.float32))
        except Exception as exc:
            err = pb_utils.TritonError(f"model '{self.name}': {exc}")
            return [pb_utils.InferenceResponse(output_tensors=[], error=err) for _ in requests]
        offsets = np.cumsum(sizes)[:-1]
        for n, (lab, sc) in enumerate(zip(np.split(labels, offsets), np.split(scores, offsets))):
            if not self.batching:
                lab, sc = lab[0], sc[0]
            responses[n] = pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor("LABELS", lab), pb_utils.Tensor("SCORES", sc)]
            )
        return responses
