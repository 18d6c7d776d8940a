"""tritonctl tune against a real local Triton in explicit mode: a tiny sweep writes and serves its winner.

No timing assertions: which candidate wins is the measurement's business; the tests check that
the winner (whichever it is) is written to models.yaml and config.pbtxt and is what Triton
serves afterwards, and that a candidate Triton refuses is reported and skipped without leaving
the model broken.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass

import numpy as np
import pytest
import yaml

from serverkit import run_tritonctl, start_server, stop_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC = textwrap.dedent("""\
    # tune integration spec: comments must survive the write-back
    repository: repo

    models:
      - name: linear
        source: examples.linear:build
        inputs: [{name: x, dtype: float32, shape: [10]}]
        outputs: [{name: y, dtype: float32, shape: [2]}]
        formats: [onnx, torchscript]
        max_batch_size: 2   # tune rewrites this line
        dynamic_batching: {max_queue_delay_microseconds: 100}
    """)


@pytest.fixture(scope="module")
def tune_env(tmp_path_factory):
    work = tmp_path_factory.mktemp("tune")
    spec = work / "models.yaml"
    spec.write_text(SPEC)
    res = run_tritonctl("build", str(spec), timeout=600)
    if res.returncode != 0:
        pytest.fail(f"tritonctl build failed:\n{res.stdout}\n{res.stderr}")
    served = start_server(work / "repo", work / "server", "--model-control-mode", "explicit", "--model", "linear")
    try:
        yield work, spec, served
    finally:
        stop_server(served)


def _client(served):
    import tritonclient.http as httpclient

    return httpclient.InferenceServerClient(served.http_url)


def _infer(served, batch=2):
    import tritonclient.http as httpclient

    x = np.random.default_rng(0).random((batch, 10), dtype=np.float32)
    inp = httpclient.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    return _client(served).infer("linear", [inp]).as_numpy("y")


def test_a_candidate_triton_refuses_is_skipped_and_the_model_keeps_serving(tune_env):
    from tritonctl.tune.candidates import Candidate
    from tritonctl.tune.runner import Tuner, run_sweep

    _, _, served = tune_env

    @dataclass(frozen=True)
    class Broken(Candidate):
        def apply(self, base):
            cfg = super().apply(base)
            cfg.input[0].dims[:] = [11]  # the ONNX graph says 10: Triton refuses the load
            return cfg

    before = _client(served).get_model_config("linear")
    tuner = Tuner(http_url=served.http_url, grpc_url=served.grpc_url, names={"onnx": "linear"},
                  concurrencies=[1], duration=0.3, warmup=0.1)
    results = run_sweep(tuner, [Broken("onnx", 4), Candidate("onnx", 4, (4,), 0, 1)])
    assert not results[0].ok and "failed to load" in results[0].error
    assert results[1].ok and results[1].windows[0].requests > 0
    after = _client(served).get_model_config("linear")
    assert after["max_batch_size"] == before["max_batch_size"]  # restored, not the last candidate
    assert _infer(served).shape == (2, 2)


def test_tiny_sweep_writes_the_winner_and_serves_it(tune_env):
    work, spec, served = tune_env
    res = run_tritonctl(
        "tune", "linear", "--spec", str(spec), "--url", served.http_url, "--grpc-url", served.grpc_url,
        "--formats", "onnx", "--max-batch-sizes", "4,8", "--queue-delays", "0", "--instances", "1",
        "--concurrency", "2", "--duration", "0.5", "--warmup", "0.2", "--p99-budget", "60000",
        "--write", "--plot", str(work / "tune.png"), "--json", str(work / "tune.json"), timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    records = json.loads((work / "tune.json").read_text())
    assert len(records) == 2 and all(not r["error"] for r in records)
    winners = [r for r in records if r["winner"]]
    assert len(winners) == 1
    mbs = winners[0]["candidate"]["max_batch_size"]
    assert (work / "tune.png").stat().st_size > 0

    text = spec.read_text()
    assert "# tune integration spec: comments must survive the write-back" in text
    model = yaml.safe_load(text)["models"][0]
    assert model["max_batch_size"] == mbs
    assert model["dynamic_batching"]["max_queue_delay_microseconds"] == 0

    from tritonctl import config

    on_disk = config.parse((work / "repo" / "linear" / "config.pbtxt").read_text())
    assert on_disk.max_batch_size == mbs
    ts = config.parse((work / "repo" / "linear_torchscript" / "config.pbtxt").read_text())
    assert ts.max_batch_size == mbs  # every format follows models.yaml: no drift

    client = _client(served)
    assert client.get_model_config("linear")["max_batch_size"] == mbs  # served from the written config
    assert not client.is_model_ready("linear_torchscript")  # it was not loaded before the sweep
    assert _infer(served, batch=mbs).shape == (mbs, 2)

    check = run_tritonctl("check", str(work / "repo"), "--spec", str(spec), timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr  # models.yaml and the repository agree
