"""Bad requests over both protocols: each gets a clear error, and the next good request succeeds."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from tritonctl import client as tc
from tritonctl.errors import ClientError

pytestmark = pytest.mark.integration

F32 = np.float32


def x(batch=1, n=10, dtype=F32):
    return np.zeros((batch, n), dtype)


def text(seq: int, batch: int = 1, ids_value: int = 1, indexed: bool = False):
    names = ("input_ids__0", "attention_mask__1") if indexed else ("input_ids", "attention_mask")
    return {
        names[0]: np.full((batch, seq), ids_value, np.int64),
        names[1]: np.ones((batch, seq), np.int64),
    }


def not_an_image():
    return {"IMAGE": tc.encode_image(b"\x00\x01 these bytes are not a PNG or a JPEG")}


def too_large_image():
    return {"IMAGE": tc.encode_image(b"\x89PNG\r\n\x1a\n" + b"\0" * (4 * 1024 * 1024 + 1))}


# (id, model, inputs, version, fragments the error must contain)
CLIENT_CASES = [
    ("unknown-model", "no_such_model", {"x": x()}, "", ["no_such_model"]),
    ("unknown-version", "linear", {"x": x()}, "7", ["'linear' version 7", "not found"]),
    ("non-numeric-version", "linear", {"x": x()}, "latest", ["linear", "latest"]),
    ("missing-input", "text_classifier", {"input_ids": np.ones((1, 4), np.int64)}, "", ["missing required input", "attention_mask"]),
    ("extra-input", "linear", {"x": x(), "z": x()}, "", ["expected 1 inputs but got 2", "'z'"]),
    ("misnamed-input", "linear", {"X": x()}, "", ["'X'"]),
    ("wrong-dtype", "linear", {"x": x(dtype=np.float64)}, "", ["FP64", "expects 'FP32'"]),
    ("wrong-shape", "linear", {"x": x(n=11)}, "", ["unexpected shape for input 'x'", "[1,11]"]),
    ("wrong-rank", "digits", {"image": np.zeros((1, 28, 28), F32)}, "", ["unexpected shape for input 'image'"]),
    ("batch-above-max", "linear", {"x": x(batch=9)}, "", ["batch-size must be <= 8"]),
    ("dynamic-dim-zero", "text_classifier", text(0), "", ["text_classifier", "inference failed"]),
    ("token-out-of-vocab", "text_classifier_torchscript", text(5, ids_value=10_000, indexed=True), "", ["text_classifier_torchscript", "inference failed"]),
    ("not-an-image", "digits_pipeline", not_an_image(), "", ["digits_preprocess", "not a decodable image"]),
    ("image-above-limit", "digits_pipeline", too_large_image(), "", ["above this model's limit", "max_image_bytes"]),
]

GOOD = {"linear": {"x": np.ones((2, 10), F32)}}


def good_request_succeeds(client) -> None:
    out = tc.infer(client, "linear", GOOD["linear"])
    assert out["y"].shape == (2, 2) and np.isfinite(out["y"]).all()


@pytest.mark.parametrize("case", CLIENT_CASES, ids=[c[0] for c in CLIENT_CASES])
def test_bad_request_gets_a_clear_error_then_a_good_one_succeeds(client, protocol, case):
    _, model, feeds, version, fragments = case
    with pytest.raises(ClientError) as info:
        tc.infer(client, model, feeds, version=version)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    good_request_succeeds(client)


def test_an_unknown_output_name_gets_a_clear_error_then_a_good_one_succeeds(client, protocol):
    with pytest.raises(ClientError) as info:
        tc.infer(client, "linear", {"x": x()}, outputs=["nope"])
    message = str(info.value)
    assert "'nope'" in message and "linear" in message, message
    good_request_succeeds(client)


def test_a_grpc_raw_payload_of_the_wrong_size_gets_a_clear_error_then_a_good_one_succeeds(server):
    """raw_input_contents is bytes on the wire: 12 bytes for a [1, 10] FP32 input (40 expected)."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    request = service_pb2.ModelInferRequest(model_name="linear")
    request.inputs.add(name="x", datatype="FP32", shape=[1, 10])
    request.raw_input_contents.append(b"\0" * 12)
    with grpc.insecure_channel(server.grpc_url) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.ModelInfer(request, timeout=30)
        message = info.value.details()
        assert "'x'" in message and "40" in message and "12" in message, message
        request.raw_input_contents[0] = np.ones((1, 10), F32).tobytes()
        reply = stub.ModelInfer(request, timeout=30)
        assert reply.outputs[0].name == "y" and len(reply.raw_output_contents[0]) == 2 * 4


def test_nan_and_inf_are_served_not_crashing(client):
    feeds = {"x": np.array([[np.nan] * 10, [np.inf] * 10, [-np.inf] + [0.0] * 9], F32)}
    out = tc.infer(client, "linear", feeds)
    assert out["y"].shape == (3, 2)
    assert np.isnan(out["y"][0]).all() and not np.isfinite(out["y"][2]).all()
    out = tc.infer(client, "digits", {"image": np.full((1, 1, 28, 28), np.nan, F32)})
    assert out["logits"].shape == (1, 10)
    good_request_succeeds(client)


# ---- raw HTTP: bodies tritonclient would never send ----------------------------------------
def post(server, path: str, body: bytes, headers: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(f"http://{server.http_url}{path}", data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def header(shape, size):
    return json.dumps(
        {"inputs": [{"name": "x", "shape": shape, "datatype": "FP32", "parameters": {"binary_data_size": size}}]}
    ).encode()


RAW_CASES = [
    ("malformed-json", b'{"inputs": [', {}, "failed to parse the request JSON"),
    ("empty-body", b"", {}, "Expected 40, got 0"),
    ("binary-shorter-than-declared", header([1, 10], 40) + b"\0" * 12, {"Inference-Header-Content-Length": str(len(header([1, 10], 40)))}, "expecting 28 additional bytes"),
    ("json-data-count-mismatch", json.dumps({"inputs": [{"name": "x", "shape": [1, 10], "datatype": "FP32", "data": [1, 2, 3]}]}).encode(), {}, "Shape does not match"),
    ("json-wrong-type-values", json.dumps({"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP32", "data": ["a", "b"]}]}).encode(), {}, "non-number"),
    ("json-without-inputs", json.dumps({"outputs": []}).encode(), {}, "inputs"),
]


def bytes_header(size):
    return json.dumps(
        {"inputs": [{"name": "IMAGE", "shape": [1, 1], "datatype": "BYTES", "parameters": {"binary_data_size": size}}]}
    ).encode()


# BYTES elements travel as <4-byte little-endian length><bytes>: a prefix claiming 1000 bytes with 4 behind it
BAD_PREFIX = (1000).to_bytes(4, "little") + b"\x89PNG"


def test_a_malformed_bytes_length_prefix_gets_a_clear_error_then_a_good_one_succeeds(server):
    head = bytes_header(len(BAD_PREFIX))
    status, text = post(server, "/v2/models/digits_pipeline/infer", head + BAD_PREFIX,
                        {"Inference-Header-Content-Length": str(len(head))})
    assert status >= 400
    error = json.loads(text)["error"]
    assert "IMAGE" in error, error
    from test_serve import digit_png

    data, label = digit_png(-3)
    c = tc.make_client(server.http_url, "http")
    try:
        out = tc.infer(c, "digits_pipeline", {"IMAGE": tc.encode_image(data)})
    finally:
        c.close()
    assert out["LABELS"][0][0].decode() == str(label)


@pytest.mark.parametrize("case", RAW_CASES, ids=[c[0] for c in RAW_CASES])
def test_malformed_http_bodies_get_a_clear_error_then_a_good_one_succeeds(server, case):
    _, body, headers, fragment = case
    status, text = post(server, "/v2/models/linear/infer", body, headers)
    assert status >= 400
    error = json.loads(text)["error"]
    assert fragment in error, error
    ok_status, ok_text = post(
        server,
        "/v2/models/linear/infer",
        json.dumps({"inputs": [{"name": "x", "shape": [1, 10], "datatype": "FP32", "data": [0.5] * 10}]}).encode(),
    )
    assert ok_status == 200, ok_text
    assert json.loads(ok_text)["outputs"][0]["name"] == "y"
