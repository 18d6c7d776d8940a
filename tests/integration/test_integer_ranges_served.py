"""A newcomer's model served: an int64 category id into nn.Embedding(5, 4) with `values: [0, 5]`.
Clients that see only the server (`tritonctl infer --random`, `tritonctl bench`) draw ids from the
range build wrote into config.pbtxt, never from the default [0, 10) that would index past row 4."""

from __future__ import annotations

import csv
import textwrap

import pytest

from serverkit import run_tritonctl, start_server, stop_server

pytestmark = pytest.mark.integration

CATEGORIES = 5

MODEL_PY = f"""
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding({CATEGORIES}, 4)
        self.head = nn.Linear(16 + 4, 3)

    def forward(self, features, category):
        return self.head(torch.cat([features, self.embed(category).flatten(1)], dim=1))


def build():
    return Net().eval()
"""

MODELS_YAML = f"""
repository: repo
models:
  - name: newbie
    source: newbie_values:build
    inputs:
      - {{name: features, dtype: float32, shape: [16]}}
      - {{name: category, dtype: int64, shape: [1], values: [0, {CATEGORIES}]}}
    outputs: [{{name: scores, dtype: float32, shape: [3]}}]
    formats: [onnx, torchscript]
    max_batch_size: 8
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("values")
    (root / "newbie_values.py").write_text(textwrap.dedent(MODEL_PY))
    (root / "models.yaml").write_text(MODELS_YAML)
    res = run_tritonctl("build", str(root / "models.yaml"), "--repository", str(root / "repo"), timeout=300)
    assert res.returncode == 0, res.stderr
    server = start_server(root / "repo", root / "server")
    try:
        yield server
    finally:
        stop_server(server)


@pytest.mark.parametrize("model", ["newbie", "newbie_torchscript"])
def test_infer_random_should_send_ids_the_embedding_takes(served, model):
    # batch 8 over 6 seeds: 48 ids, so the default [0, 10) would have sent one >= 5 (p > 0.999)
    for seed in range(6):
        res = run_tritonctl("infer", model, "--random", "--batch-size", "8", "--seed", str(seed),
                            "--url", served.grpc_url)
        assert res.returncode == 0, res.stderr


def test_bench_should_send_ids_the_embedding_takes(served, tmp_path):
    res = run_tritonctl("bench", "newbie", "--url", served.grpc_url, "--concurrency", "1", "--batch-size", "8",
                        "--window", "0.3", "--warmup", "0.1", "--stable-windows", "1", "--max-windows", "2",
                        "--output-dir", str(tmp_path), "--name", "values")
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "values.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1 and int(rows[0]["requests"]) > 0
    assert int(rows[0]["errors"]) == 0
