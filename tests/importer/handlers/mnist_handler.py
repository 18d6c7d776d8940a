"""The seed-style MNIST handler: decode the image, grayscale 28x28, normalise, top class."""

import io

import numpy as np
import torch
from PIL import Image
from ts.torch_handler.base_handler import BaseHandler


class MNISTDigitClassifier(BaseHandler):
    def preprocess(self, data):
        images = []
        for row in data:
            image = row.get("data") or row.get("body")
            img = Image.open(io.BytesIO(image)).convert("L").resize((28, 28))
            arr = np.asarray(img, dtype=np.float32) / 255.0
            images.append(torch.from_numpy(arr)[None])
        return torch.stack(images)

    def postprocess(self, data):
        return data.argmax(1).tolist()
