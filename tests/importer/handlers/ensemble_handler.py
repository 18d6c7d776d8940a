"""A handler whose inference does more than call the model once: test-time augmentation
(the model runs on the image and on its mirror image, the logits are averaged)."""

import io

import numpy as np
import torch
from PIL import Image
from ts.torch_handler.base_handler import BaseHandler


class FlipAveragingClassifier(BaseHandler):
    def preprocess(self, data):
        rows = [np.asarray(Image.open(io.BytesIO(r.get("data") or r.get("body"))).convert("L").resize((28, 28)),
                           dtype=np.float32) / 255.0 for r in data]
        return torch.from_numpy(np.stack(rows))[:, None]

    def inference(self, data, *args, **kwargs):
        with torch.inference_mode():
            return (self.model(data) + self.model(torch.flip(data, dims=[3]))) / 2

    def postprocess(self, data):
        probs = torch.softmax(data, 1)
        return [{"class": int(p.argmax()), "probability": float(p.max())} for p in probs]
