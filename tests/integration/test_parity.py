"""Served outputs equal eager PyTorch, for every example model and format, over gRPC and HTTP
(binary tensor data and, for HTTP, JSON), at several batch sizes."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from tritonctl import client as tc

pytestmark = pytest.mark.integration

NUMPY = {"float32": np.float32, "float64": np.float64, "int64": np.int64, "int32": np.int32}


def served_cases():
    from tritonctl import spec as S
    from serverkit import ROOT

    spec = S.load(ROOT / "models.yaml")
    for m in spec.models:
        if m.kind != "pytorch":
            continue
        for fmt in m.formats:
            if fmt in ("onnx", "torchscript"):
                yield pytest.param(m.name, m.served_name(fmt), id=m.served_name(fmt))


def spec_inputs(m, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Inputs in forward() order, valid for the spec (dynamic dims from range, values from values)."""
    arrays = []
    lengths = {}
    for t in m.inputs:
        shape = []
        for d, size in enumerate(t.shape):
            if size < 0:
                lo = t.range.min[d] if t.range else 1
                hi = min(t.range.max[d], 24) if t.range else 8
                size = lengths.setdefault(d, int(rng.integers(lo, hi + 1)))
            shape.append(size)
        dtype = NUMPY[t.dtype]
        lo, hi = t.values if t.values else (-1.0, 1.0)
        if np.issubdtype(dtype, np.integer):
            arr = rng.integers(int(lo), int(hi), size=[batch, *shape]).astype(dtype)
        else:
            arr = rng.uniform(lo, hi, size=[batch, *shape]).astype(dtype) if t.values else rng.standard_normal([batch, *shape]).astype(dtype)
        arrays.append(arr)
    return arrays


@pytest.mark.parametrize("name,served", list(served_cases()))
def test_served_outputs_equal_eager_pytorch(server, spec, eager_models, name, served):
    m = spec.model(name)
    module = eager_models(name)
    rng = np.random.default_rng(zlib.crc32(served.encode()))  # reproducible across runs
    mbs = m.max_batch_size
    batches = sorted({1, 3, min(mbs, 8)}) if mbs else [1]
    if name.startswith("resnet"):
        batches = [1, 2]  # CPU time: a ResNet-18 at 224x224 is the heaviest example
    clients = {p: tc.make_client(server.url(p), p) for p in ("grpc", "http")}
    try:
        cfg = tc.get_config(clients["grpc"], served)
        in_names = [i["name"] for i in cfg["input"]]
        out_names = [o["name"] for o in cfg["output"]]
        for batch in batches:
            arrays = spec_inputs(m, batch, rng)
            with torch.no_grad():
                expected = module(*[torch.from_numpy(a) for a in arrays])
            expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
            feeds = dict(zip(in_names, arrays))
            variants = [("grpc", True), ("http", True)]
            if batch <= 3 and not name.startswith("resnet"):
                variants.append(("http", False))  # JSON tensors
            for protocol, binary in variants:
                got = tc.infer(clients[protocol], served, feeds, binary=binary)
                for out_name, want, t in zip(out_names, expected, m.outputs):
                    tol = m.tolerance_for(t.dtype)
                    np.testing.assert_allclose(
                        got[out_name],
                        want.numpy(),
                        atol=tol.atol,
                        rtol=tol.rtol,
                        err_msg=f"{served} over {protocol} (binary={binary}), batch {batch}, output {out_name}",
                    )
    finally:
        for c in clients.values():
            c.close()


def test_two_inputs_two_outputs_map_by_index(server):
    """`INPUT__0`/`INPUT__1` -> forward(a, b); `OUTPUT__0`/`OUTPUT__1` -> the returned tuple."""
    c = tc.make_client(server.grpc_url, "grpc")
    try:
        a = np.arange(6, dtype=np.float32).reshape(2, 3)
        b = np.ones((2, 3), np.float32)
        out = tc.infer(c, "two_io_torchscript", {"INPUT__0": a, "INPUT__1": b})
    finally:
        c.close()
    np.testing.assert_array_equal(out["OUTPUT__0"], a + 2 * b)
    np.testing.assert_array_equal(out["OUTPUT__1"], a - b)
