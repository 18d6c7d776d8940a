"""Precision variants served: digits built with INT8 static (calibrated on real digit
images), INT8 dynamic and FP16 variants beside FP32 by `tritonctl build`, loaded by a real local
Triton, answering over gRPC and HTTP within their accuracy gate."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from serverkit import ROOT, run_tritonctl, start_server, stop_server

pytestmark = pytest.mark.integration

VARIANTS = ("digits_int8", "digits_int8_dynamic", "digits_fp16")

MODELS_YAML = """
models:
  - name: digits
    source: digits:build
    inputs: [{name: image, dtype: float32, shape: [1, 28, 28], values: [0, 1]}]
    outputs: [{name: logits, dtype: float32, shape: [10]}]
    max_batch_size: 32
    precision:
      calibration: calib.npz
      evaluation: eval.npz
      variants:
        - {type: int8_static}
        - {type: int8_dynamic}
        - {type: fp16}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A user's project: the digits example, 256 held-out digit images to calibrate on and 200
    others to grade on, and the build that publishes FP32 and the three variants."""
    import sys

    sys.path.insert(0, str(ROOT))
    from examples.digits import dataset

    root = tmp_path_factory.mktemp("precision")
    shutil.copy(ROOT / "examples" / "digits.py", root / "digits.py")
    (root / "models.yaml").write_text(MODELS_YAML)
    train_x, _, test_x, _ = dataset()
    np.savez(root / "calib.npz", image=train_x[:256].numpy())
    np.savez(root / "eval.npz", image=test_x[:200].numpy())
    res = run_tritonctl("build", str(root / "models.yaml"), "--repository", str(root / "repo"), timeout=300)
    assert res.returncode == 0, res.stderr
    return root, res


@pytest.fixture(scope="module")
def served(project, tmp_path_factory):
    root, _ = project
    server = start_server(root / "repo", tmp_path_factory.mktemp("precision-server"))
    try:
        yield server
    finally:
        stop_server(server)


def _infer(server, protocol: str, model: str, x: np.ndarray) -> np.ndarray:
    if protocol == "grpc":
        import tritonclient.grpc as t
    else:
        import tritonclient.http as t
    client = t.InferenceServerClient(server.url(protocol))
    try:
        inp = t.InferInput("image", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        return client.infer(model, [inp], outputs=[t.InferRequestedOutput("logits")]).as_numpy("logits")
    finally:
        client.close()


def test_the_build_table_shows_each_variants_gate(project):
    root, res = project
    for name in VARIANTS:
        row = next(line for line in res.stdout.splitlines() if f" {name} " in line)
        assert "top1" in row and ">= 0.99 (n=200)" in row  # a classifier: top-1 agreement on eval.npz
    record = json.loads((root / "repo" / "digits_int8" / "1" / "build.json").read_text())
    assert record["precision"]["data"] == {"calibration": "calib.npz", "evaluation": "eval.npz", "evaluation_samples": 200}
    assert "calibrates on" not in res.stderr  # a calibration file given: no warning about drawn samples


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_variants_load_and_answer_within_their_gate(project, served, protocol):
    root, _ = project
    with np.load(root / "eval.npz") as data:
        images = data["image"][:64]
    fp32 = np.concatenate([_infer(served, protocol, "digits", images[i:i + 16]) for i in range(0, 64, 16)])
    for name in VARIANTS:
        got = np.concatenate([_infer(served, protocol, name, images[i:i + 16]) for i in range(0, 64, 16)])
        agreement = float(np.mean(got.argmax(1) == fp32.argmax(1)))
        assert agreement >= 0.99, f"{name} over {protocol}: top-1 agreement {agreement}"
        # the served model is the reduced-precision file, not a copy of FP32: same answers, other numbers
        assert not np.array_equal(got, fp32), name


def test_tritonctl_check_accepts_the_variants(project):
    root, _ = project
    res = run_tritonctl("check", str(root / "repo"), timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
