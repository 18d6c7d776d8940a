"""tritonctl.client helpers and the launcher's pure parts, without a server."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from tritonctl import client as tc
from tritonctl.errors import ClientError, ServeError

TEXT = {
    "name": "text",
    "max_batch_size": 16,
    "input": [
        {"name": "input_ids", "data_type": "TYPE_INT64", "dims": [-1]},
        {"name": "attention_mask", "data_type": "TYPE_INT64", "dims": [-1]},
    ],
    # what tritonctl build writes for models.yaml's values: (text_classifier's)
    "parameters": {"tritonctl.values": {"string_value": '{"attention_mask":[0,2],"input_ids":[0,1000]}'}},
}


@pytest.mark.parametrize(
    "url,protocol,expected",
    [
        (None, None, ("grpc", "localhost:8001")),
        (None, "http", ("http", "localhost:8000")),
        ("http://h:9000/", None, ("http", "h:9000")),
        ("grpc://h:9001", None, ("grpc", "h:9001")),
        ("h:1234", "http", ("http", "h:1234")),
    ],
)
def test_split_url(url, protocol, expected):
    assert tc.split_url(url, protocol) == expected


def test_split_url_refuses_a_conflict():
    with pytest.raises(ClientError, match="says http but --protocol is grpc"):
        tc.split_url("http://h:1", "grpc")


def test_random_inputs_share_one_dynamic_length_and_respect_dtypes():
    arrays = tc.random_inputs(TEXT, 3, rng=np.random.default_rng(0), dim_range=(5, 5))
    assert arrays["input_ids"].shape == arrays["attention_mask"].shape == (3, 5)
    assert arrays["input_ids"].dtype == np.int64 and set(np.unique(arrays["attention_mask"])) == {0, 1}


def test_random_integers_without_values_should_come_from_the_default_range_the_parity_gate_uses():
    config = {**TEXT, "parameters": {}}
    ids = tc.random_inputs(config, 16, rng=np.random.default_rng(0), dim_range=(64, 64))["input_ids"]
    assert set(np.unique(ids).tolist()) == set(range(10))  # docs/models-yaml.md: [0, 10)


def test_random_inputs_refuse_a_batch_above_max_batch_size():
    with pytest.raises(ClientError, match="above model 'text'"):
        tc.random_inputs(TEXT, 17)


def test_normalize_makes_grpc_json_like_http():
    assert tc._normalize({"dims": ["10", "-1"], "name": "7"}) == {"dims": [10, -1], "name": "7"}


def test_parse_classes():
    rows = tc.parse_classes(np.array([[b"0.9:7:seven", b"0.1:1"]], dtype=object))
    assert rows == [[(0.9, 7, "seven"), (0.1, 1, "1")]]


def test_image_to_array_inverts_a_light_background():
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (40, 40), 250).save(buf, format="PNG")
    arr = tc.image_to_array(buf.getvalue(), [1, 28, 28])
    assert arr.shape == (1, 28, 28) and arr.max() < 0.05


def test_server_options_validate_on_construction():
    from tritonctl.server.launcher import ServerOptions

    with pytest.raises(ServeError, match="needs --model-control-mode explicit"):
        ServerOptions(repository=Path("r"), load_models=["a"])
    with pytest.raises(ServeError, match="must differ"):
        ServerOptions(repository=Path("r"), http_port=9000, grpc_port=9000)


def test_port_in_use_detects_a_listener():
    from tritonctl.endpoints import port_in_use

    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        assert port_in_use(s.getsockname()[1])


def test_backend_directory_is_assembled_with_copies(tmp_path):
    from tritonctl.server.distribution import prepare_backend_dir

    backends = prepare_backend_dir(tmp_path)
    for rel in ("python/libtriton_python.so", "python/triton_python_backend_stub", "python/triton_python_backend_utils.py", "onnxruntime/model.py", "pytorch/model.py"):
        path = backends / rel
        assert path.is_file() and not path.is_symlink(), rel


def test_a_python_without_libpython_is_refused_with_the_fix(monkeypatch):
    import sysconfig

    from tritonctl.server import distribution

    real = sysconfig.get_config_var
    monkeypatch.setattr(sysconfig, "get_config_var", lambda name: 0 if name == "Py_ENABLE_SHARED" else real(name))
    with pytest.raises(ServeError, match="not built as a shared library.*--enable-shared"):
        distribution.python_libdir()
