"""The TorchServe handler, as the seed material writes it: a BaseHandler subclass.

BaseHandler.initialize loads the TorchScript file given to torch-model-archiver as
--serialized-file; preprocess turns each request of TorchServe's batch into a tensor
(JSON ``{"inputs": [...]}``/a nested list, or a raw float32 body sent as
application/octet-stream), inference runs the whole batch in one call, postprocess returns one
JSON list of logits per request. The input shape and torch's thread count come from the
``handler:`` section of the archive's model-config.yaml (written by benchmarks/peers.py).
"""

import json

import numpy as np
import torch
from ts.torch_handler.base_handler import BaseHandler


class ClassifierHandler(BaseHandler):
    def initialize(self, context):
        cfg = (getattr(context, "model_yaml_config", None) or {}).get("handler", {})
        self.shape = tuple(int(d) for d in cfg.get("shape", ()))
        torch.set_num_threads(int(cfg.get("threads", 1)))
        super().initialize(context)
        self.model.eval()

    def _tensor(self, body):
        if isinstance(body, (bytes, bytearray)):
            arr = np.frombuffer(body, dtype=np.float32)
            return torch.from_numpy(arr.copy()).reshape(self.shape)
        if isinstance(body, str):
            body = json.loads(body)
        if isinstance(body, dict):
            body = body.get("inputs", body.get("data"))
        return torch.as_tensor(body, dtype=torch.float32).reshape(self.shape)

    def preprocess(self, data):
        return torch.stack([self._tensor(row.get("data") or row.get("body")) for row in data])

    def inference(self, data, *args, **kwargs):
        with torch.inference_mode():
            return self.model(data)

    def postprocess(self, data):
        return data.tolist()
