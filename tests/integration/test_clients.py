"""The programs in examples/clients/ run against the session's real Triton and give right answers:
the pipeline reads each sample digit, tensors equal eager PyTorch, each failure kind gets its own
message, and the resilient client retries only what is safe to retry (its rolling-stop and TLS
tests are in test_clients_rolling.py)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from clientkit import SAMPLES, json_output, label_of, run_example
from serverkit import ROOT, free_port

pytestmark = pytest.mark.integration

SYNC = {"grpc": "grpc_sync.py", "http": "http_sync.py"}


def assert_equals_eager(spec, eager_models, name: str, inputs: list[np.ndarray], got: list[np.ndarray], what: str):
    m = spec.model(name)
    module = eager_models(name)  # built (and trained) outside no_grad
    with torch.no_grad():
        expected = module(*[torch.from_numpy(np.asarray(a)) for a in inputs])
    expected = [expected] if isinstance(expected, torch.Tensor) else list(expected)
    assert len(got) == len(expected), f"{what}: {len(got)} outputs served, eager returns {len(expected)}"
    for out, want, t in zip(got, expected, m.outputs):
        tol = m.tolerance_for(t.dtype)
        np.testing.assert_allclose(out, want.numpy(), atol=tol.atol, rtol=tol.rtol, err_msg=what)


@pytest.mark.parametrize("png", [SAMPLES[3], SAMPLES[7]], ids=lambda p: p.name)
def test_sync_client_reads_the_digit_and_the_tensor_model_equals_eager(server, spec, eager_models, protocol, png):
    res = run_example(SYNC[protocol], "--url", server.url(protocol), "--image", str(png), "--features", "0.5,-1,2,0,3,-4,1,1,0.25,7", "--json")
    assert res.returncode == 0, res.stderr
    out = json_output(res)
    assert out["top3"][0][0] == label_of(png), f"{png.name} read as {out['top3']}"
    features = np.array([out["features"]], dtype=np.float32)
    np.testing.assert_array_equal(features, [[0.5, -1, 2, 0, 3, -4, 1, 1, 0.25, 7]])
    assert_equals_eager(spec, eager_models, "linear", [features], [np.array([out["output"]], np.float32)], f"{SYNC[protocol]} linear")


@pytest.mark.parametrize(
    "case,args,message",
    [
        ("unreachable", ["--url", None], "cannot reach Triton"),
        ("unknown model", ["--pipeline", "no_such_model"], "model not served or not ready"),
        ("wrong shape", ["--features", "1,2,3"], "does not match the model's config"),
        # A server that accepts the connection and never answers: the deadline is what ends the
        # call, whatever the machine's load (a tiny deadline on a real model raced the answer).
        ("deadline", ["--url", "SILENT", "--timeout", "0.5"], "deadline"),
    ],
)
def test_sync_client_names_each_failure_kind(server, silent_server, protocol, case, args, message):
    args = [{None: f"127.0.0.1:{free_port()}", "SILENT": silent_server}.get(a, a) for a in args]
    if "--url" not in args:
        args = ["--url", server.url(protocol), *args]
    res = run_example(SYNC[protocol], *args)
    assert res.returncode == 1, f"{case}: exit {res.returncode}\n{res.stdout}\n{res.stderr}"
    assert message in res.stderr, f"{case}: {res.stderr}"
    assert "Traceback" not in res.stderr


@pytest.fixture
def silent_server():
    """host:port of a TCP listener that accepts connections, reads what is sent and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.setblocking(False)
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def test_async_client_answers_every_concurrent_request_right(server):
    res = run_example("grpc_aio.py", "--url", server.grpc_url, "--requests", "200", "--concurrency", "16", "--json")
    out = json_output(res)
    assert res.returncode == 0, res.stderr
    assert (out["succeeded"], out["failed"], out["errors"]) == (200, 0, {})
    assert out["wrong_predictions"] == {}
    # every sample was sent (200 requests over 10 images) and each got its own label back
    assert {name: set(seen) for name, seen in out["predictions"].items()} == {p.name: {label_of(p)} for p in SAMPLES}


@pytest.mark.parametrize(
    "name,served,batch",
    [("linear", "linear", 3), ("digits", "digits_torchscript", 2), ("text_classifier", "text_classifier", 2), ("text_classifier", "text_classifier_torchscript", 1)],
)
def test_inputs_built_from_metadata_give_eager_outputs(server, spec, eager_models, tmp_path, name, served, batch):
    saved = tmp_path / "io.npz"
    res = run_example("metadata_inputs.py", "--url", server.grpc_url, "--model", served, "--batch", str(batch), "--dim", "12", "--save", str(saved))
    assert res.returncode == 0, res.stderr
    out = json_output(res)
    io = np.load(saved)
    m = spec.model(name)
    assert [list(v["shape"]) for v in out["inputs"].values()] == [[batch, *[12 if d < 0 else d for d in t.shape]] for t in m.inputs]
    inputs = [io[f"in:{k}"] for k in out["inputs"]]
    outputs = [io[f"out:{k}"] for k in out["outputs"]]
    assert_equals_eager(spec, eager_models, name, inputs, outputs, f"metadata_inputs.py {served}")


def test_inputs_built_from_metadata_carry_bytes_to_the_pipeline(server, tmp_path):
    png = SAMPLES[5]
    res = run_example("metadata_inputs.py", "--url", server.grpc_url, "--model", "digits_pipeline", "--bytes-file", str(png), "--batch", "2", "--save", str(tmp_path / "io.npz"))
    assert res.returncode == 0, res.stderr
    labels = np.load(tmp_path / "io.npz", allow_pickle=True)["out:LABELS"]
    assert [row[0].decode() for row in labels] == [label_of(png)] * 2


def test_metadata_client_asks_for_bytes_it_cannot_invent(server):
    res = run_example("metadata_inputs.py", "--url", server.grpc_url, "--model", "digits_pipeline")
    assert res.returncode == 1 and "input 'IMAGE' is BYTES; pass --bytes-file" in res.stderr, res.stderr


def test_resilient_client_reads_the_digit(server):
    png = SAMPLES[9]
    out = json_output(run_example("resilient.py", "--url", server.grpc_url, "--image", str(png)))
    assert out == {"image": str(png), "digit": label_of(png), "retried": {}}


def test_resilient_client_never_retries_an_invalid_argument(server):
    # the digits classifier has no LABELS output: Triton answers INVALID_ARGUMENT
    res = run_example("resilient.py", "--url", server.grpc_url, "--model", "digits", "--attempts", "5")
    out = json_output(res)
    assert res.returncode == 1
    assert out == {"error": "StatusCode.INVALID_ARGUMENT", "retryable": False, "retried": {}}
    assert "not retried" in res.stderr


def test_resilient_client_retries_unavailable_then_gives_up(server):
    res = run_example("resilient.py", "--url", f"ipv4:127.0.0.1:{free_port()}", "--attempts", "3", "--deadline", "30")
    out = json_output(res)
    assert res.returncode == 1
    assert out == {"error": "StatusCode.UNAVAILABLE", "retryable": True, "retried": {"StatusCode.UNAVAILABLE": 2}}
    assert "gave up after retries" in res.stderr


def test_readme_client_snippet_reads_the_digit(server):
    """The README's short client example, as printed there (only the address changed)."""
    section = (ROOT / "README.md").read_text().split("## Call it from your service", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert '"localhost:8001"' in code
    res = subprocess.run([sys.executable, "-c", code.replace('"localhost:8001"', f'"{server.grpc_url}"')], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "7"
