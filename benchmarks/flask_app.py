"""The seed material's Flask microservice: a /predict route running the TorchScript model.

Run it under a production WSGI server, one process per core::

    PEERS_MODELS=digits=model_repository/digits_torchscript/1/model.pt \
        gunicorn -w 2 -b 127.0.0.1:5000 --chdir benchmarks flask_app:app

``PEERS_MODELS`` lists ``name=path.pt`` pairs (comma separated); ``/predict/<name>`` (or
``/predict`` for the first) takes a JSON body ``{"inputs": [...]}`` or a raw float32 body
(application/octet-stream) and answers ``{"logits": [[...]]}``. ``TORCH_THREADS`` (default 1)
sets torch's intra-op threads per worker.
"""

import os

import numpy as np
import torch
from flask import Flask, abort, jsonify, request

torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
SHAPES = {int(np.prod(s)): s for s in ((1, 28, 28), (3, 224, 224))}
MODELS = {}
for item in filter(None, os.environ.get("PEERS_MODELS", "").split(",")):
    name, path = item.split("=", 1)
    MODELS[name] = torch.jit.load(path, map_location="cpu").eval()

app = Flask(__name__)


def _input():
    if request.mimetype == "application/octet-stream":
        arr = np.frombuffer(request.get_data(), dtype=np.float32).copy()
        shape = SHAPES.get(arr.size)
        if shape is None:
            abort(400, f"a raw body of {arr.size} float32 values matches no known input shape")
        return torch.from_numpy(arr).reshape(1, *shape)
    body = request.get_json(force=True)
    return torch.as_tensor(body["inputs"], dtype=torch.float32)


@app.route("/predict", methods=["POST"])
@app.route("/predict/<name>", methods=["POST"])
def predict(name=None):
    model = MODELS.get(name or next(iter(MODELS)))
    if model is None:
        abort(404, f"no model '{name}'")
    with torch.inference_mode():
        logits = model(_input())
    return jsonify({"logits": logits.tolist()})


@app.route("/ping")
def ping():
    return "ok"
