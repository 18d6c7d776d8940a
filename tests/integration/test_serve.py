"""The session server answers like Triton: health, metadata, config, repository index, CLI."""

from __future__ import annotations

import io
import json
import urllib.request

import numpy as np
import pytest
from serverkit import run_tritonctl

from tritonctl import client as tc

pytestmark = pytest.mark.integration

EXAMPLE_MODELS = [
    "linear",
    "linear_torchscript",
    "digits",
    "digits_torchscript",
    "control_flow",
    "resnet18",
    "resnet18_torchscript",
    "text_classifier",
    "text_classifier_torchscript",
    "digits_preprocess",
    "digits_postprocess",
    "digits_pipeline",
]


def digit_png(index: int = -1, dark_on_light: bool = True, fmt: str = "PNG") -> tuple[bytes, int]:
    """A real digit from scikit-learn's held-out digits, drawn at 112x112; (bytes, its label)."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    img = d.images[index] * 16
    if dark_on_light:
        img = 255 - img
    im = Image.fromarray(img.clip(0, 255).astype(np.uint8)).resize((112, 112), Image.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    return buf.getvalue(), int(d.target[index])


def test_server_is_live_and_ready_on_both_protocols(client):
    assert client.is_server_live()
    assert client.is_server_ready()


def test_server_metadata_names_triton_and_its_extensions(client, protocol):
    meta = client.get_server_metadata(as_json=True) if protocol == "grpc" else client.get_server_metadata()
    assert meta["name"] == "triton"
    assert meta["version"].startswith("2.")
    assert "model_repository" in meta["extensions"]
    assert "binary_tensor_data" in meta["extensions"]


@pytest.mark.parametrize("model", EXAMPLE_MODELS)
def test_every_example_model_is_ready_with_metadata_and_config(client, model):
    assert client.is_model_ready(model)
    meta = tc.get_metadata(client, model)
    cfg = tc.get_config(client, model)
    assert meta["name"] == model == cfg["name"]
    assert [i["name"] for i in meta["inputs"]] == [i["name"] for i in cfg["input"]]
    assert [o["name"] for o in meta["outputs"]] == [o["name"] for o in cfg["output"]]
    if cfg.get("max_batch_size", 0) > 0:
        assert all(i["shape"][0] == -1 for i in meta["inputs"])


def test_platforms_map_to_the_cpu_backends(client):
    assert tc.get_config(client, "linear")["backend"] == "onnxruntime"
    assert tc.get_config(client, "linear_torchscript")["backend"] == "pytorch"
    assert tc.get_config(client, "digits_pipeline")["platform"] == "ensemble"


def test_repository_index_lists_all_models_ready(server):
    req = urllib.request.Request(f"http://{server.http_url}/v2/repository/index", data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        index = json.loads(resp.read())
    states = {(m["name"], m["version"]): m["state"] for m in index}
    for model in EXAMPLE_MODELS:
        assert states[(model, "1")] == "READY"
    assert states[("linear_ab", "1")] == states[("linear_ab", "2")] == "READY"


def test_pipeline_reads_a_real_digit_over_both_protocols(client):
    for index, fmt, dark in [(-1, "PNG", True), (-2, "JPEG", True), (-3, "PNG", False)]:
        data, label = digit_png(index, dark_on_light=dark, fmt=fmt)
        out = tc.infer(client, "digits_pipeline", {"IMAGE": tc.encode_image(data)})
        labels = [v.decode() for v in out["LABELS"][0]]
        scores = out["SCORES"][0]
        assert labels[0] == str(label)
        assert len(labels) == len(scores) == 3
        assert np.all(np.diff(scores) <= 0) and 0 < scores.sum() <= 1.0 + 1e-5


def test_pipeline_batches_several_images_in_one_request(client):
    pairs = [digit_png(i) for i in (-4, -5, -6, -7)]
    images = np.array([[data] for data, _ in pairs], dtype=object)
    out = tc.infer(client, "digits_pipeline", {"IMAGE": images})
    assert [row[0].decode() for row in out["LABELS"]] == [str(label) for _, label in pairs]


def test_classification_extension_returns_top_k(client):
    data, label = digit_png(-8)
    from tritonctl.client import image_to_array

    x = image_to_array(data, [1, 28, 28])[None]
    out = tc.infer(client, "digits", {"image": x}, classes=3)
    rows = tc.parse_classes(out["logits"])
    assert len(rows) == 1 and len(rows[0]) == 3
    score, index, name = rows[0][0]
    assert index == label and name == str(label)  # label_filename labels.txt


def test_cli_infer_over_grpc_and_http(server, tmp_path):
    data, label = digit_png(-9)
    img = tmp_path / "digit.png"
    img.write_bytes(data)
    res = run_tritonctl("infer", "digits_pipeline", "--url", server.grpc_url, "--image", str(img))
    assert res.returncode == 0, res.stderr
    assert "LABELS object [1, 3]" in res.stdout and f"[[{label}, " in res.stdout, res.stdout
    res = run_tritonctl("infer", "digits", "--url", f"http://{server.http_url}", "--image", str(img), "--classes", "2")
    assert res.returncode == 0, res.stderr
    assert "top-2 classes" in res.stdout and f"{label} ({label})" in res.stdout
    np.save(tmp_path / "x.npy", np.ones((2, 10), np.float32))
    res = run_tritonctl("infer", "linear", "--url", server.grpc_url, "--input", f"x={tmp_path / 'x.npy'}")
    assert res.returncode == 0 and "y float32 [2, 2]" in res.stdout, res.stderr
    res = run_tritonctl("infer", "text_classifier", "--url", server.http_url, "--protocol", "http", "--random", "--batch-size", "3")
    assert res.returncode == 0 and "logits float32 [3, 2]" in res.stdout, res.stderr
    res = run_tritonctl("infer", "linear", "--url", server.http_url, "--protocol", "http", "--json", json.dumps({"x": [[0.5] * 10]}), "--no-binary")
    assert res.returncode == 0 and "y float32 [1, 2]" in res.stdout, res.stderr


def test_cli_infer_reports_an_unknown_model_on_one_line(server):
    res = run_tritonctl("infer", "no_such_model", "--url", server.grpc_url)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "no_such_model" in lines[0] and "Traceback" not in res.stderr


def test_serve_refuses_a_port_that_is_taken(server, tmp_path):
    res = run_tritonctl(
        "serve", str(server.repo), "--http-port", str(server.http_port), "--grpc-port", "1", "--metrics-port", "2",
        "--state-dir", str(tmp_path / "state"), "--address", "127.0.0.1",
    )
    assert res.returncode == 1
    assert f"port {server.http_port} is already in use" in res.stderr and "--http-port" in res.stderr


def test_metrics_endpoint_counts_the_requests_sent(server):
    """/metrics counts exactly the 7 requests sent, in agreement with Triton's statistics extension.

    Triton updates both just after it has sent a response, so a read right after the last answer
    can miss that request (seen on a busy 2-core machine: 2 rounds in 60); and other tests may
    have sent to the model just before. So the test reads the counts once they have settled (the
    two sources agree), before and after, instead of at a moment in time."""
    import json
    import time

    from tritonctl import client as tc

    model = "linear_torchscript"

    def counts() -> tuple[int, int]:
        """(successes in the statistics extension, nv_inference_request_success on /metrics)."""
        with urllib.request.urlopen(f"http://{server.http_url}/v2/models/{model}/stats", timeout=10) as resp:
            stats = int(json.loads(resp.read())["model_stats"][0]["inference_stats"]["success"].get("count", 0))
        with urllib.request.urlopen(server.metrics_url, timeout=10) as resp:
            lines = resp.read().decode().splitlines()
        metric = sum(float(line.rsplit(" ", 1)[1]) for line in lines
                     if line.startswith("nv_inference_request_success{") and f'model="{model}"' in line)
        return stats, int(metric)

    def settled(expected: int | None = None, timeout: float = 60) -> tuple[int, int]:
        """The counts once both sources agree on two reads in a row (and equal ``expected``)."""
        deadline = time.monotonic() + timeout
        last = counts()
        while True:
            now = counts()
            if now == last and now[0] == now[1] and expected in (None, now[0]):
                return now
            if time.monotonic() > deadline:
                return now
            last = now
            time.sleep(0.05)

    before, _ = settled()
    c = tc.make_client(server.grpc_url, "grpc")
    try:
        cfg = tc.get_config(c, model)
        for _ in range(7):
            tc.infer(c, model, tc.random_inputs(cfg, 1))
    finally:
        c.close()
    assert settled(before + 7) == (before + 7, before + 7), f"7 requests after {before}"
