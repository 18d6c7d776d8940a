"""tritonctl tune against a real local Triton in explicit mode: a tiny sweep writes and serves its winner.

No timing assertions: which candidate wins is the measurement's business; the tests check that
the winner (whichever it is) is written to models.yaml and config.pbtxt and is what Triton
serves afterwards, and that a candidate Triton refuses is reported and skipped without leaving
the model broken.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

import numpy as np
import pytest
import yaml

from serverkit import run_tritonctl, start_server, stop_server
from example_specs import linear_entry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC = "# tune integration spec: comments must survive the write-back\nrepository: repo\n\nmodels:\n" + linear_entry(
    "linear", "formats: [onnx, torchscript]", "max_batch_size: 2   # tune rewrites this line",
    "dynamic_batching: {max_queue_delay_microseconds: 100}")


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


@contextlib.contextmanager
def _client(served):
    import tritonclient.http as httpclient

    c = httpclient.InferenceServerClient(served.http_url)
    try:
        yield c
    finally:
        c.close()


def _served_config(served, model="linear") -> dict:
    with _client(served) as c:
        return c.get_model_config(model)


def _infer(served, batch=2):
    import tritonclient.http as httpclient

    x = np.random.default_rng(0).random((batch, 10), dtype=np.float32)
    inp = httpclient.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    with _client(served) as c:
        return c.infer("linear", [inp]).as_numpy("y")


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

    before = _served_config(served)
    tuner = Tuner(http_url=served.http_url, grpc_url=served.grpc_url, names={"onnx": "linear"},
                  concurrencies=[1], duration=0.3, warmup=0.1)
    results = run_sweep(tuner, [Broken("onnx", 4), Candidate("onnx", 4, (4,), 0, 1)])
    assert not results[0].ok and "failed to load" in results[0].error
    assert results[1].ok and results[1].windows[0].requests > 0
    after = _served_config(served)
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

    assert _served_config(served)["max_batch_size"] == mbs  # served from the written config
    with _client(served) as client:
        assert not client.is_model_ready("linear_torchscript")  # it was not loaded before the sweep
    assert _infer(served, batch=mbs).shape == (mbs, 2)

    check = run_tritonctl("check", str(work / "repo"), "--spec", str(spec), timeout=120)
    assert check.returncode == 0, check.stdout + check.stderr  # models.yaml and the repository agree


def test_ctrl_c_during_tune_restores_the_served_config_and_writes_nothing(tune_env):
    """SIGINT (what Ctrl-C sends) while a candidate is being measured: tune exits 130, Triton
    serves the config it served before, and models.yaml and config.pbtxt are untouched."""
    import os
    import signal
    import subprocess
    import time

    from serverkit import ROOT, tritonctl_cmd

    work, spec, served = tune_env
    spec_before = spec.read_text()
    config_path = work / "repo" / "linear" / "config.pbtxt"
    config_before = config_path.read_text()
    served_before = _served_config(served)
    candidate = 16
    assert served_before["max_batch_size"] != candidate
    out = work / "tune-interrupted.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            tritonctl_cmd("tune", "linear", "--spec", str(spec), "--url", served.http_url, "--grpc-url", served.grpc_url,
                          "--formats", "onnx", "--max-batch-sizes", str(candidate), "--queue-delays", "0", "--instances", "1",
                          "--concurrency", "1", "--duration", "120", "--warmup", "0.1", "--write",
                          "--plot", str(work / "interrupted.png")),
            stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            # as from a terminal: a suite started in the background (`make test &`, nohup) inherits
            # SIGINT ignored, and Python then never raises KeyboardInterrupt in the child
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # the state to wait for: Triton serves the candidate, so tune is measuring it
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            if _served_config(served)["max_batch_size"] == candidate:
                break
            time.sleep(0.1)
        assert proc.poll() is None, f"tune ended before it was interrupted:\n{out.read_text()}"
        assert _served_config(served)["max_batch_size"] == candidate, out.read_text()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    text = out.read_text()
    assert code == 130, text
    assert "interrupted" in text and "Traceback" not in text, text
    served_after = _served_config(served)
    assert served_after["max_batch_size"] == served_before["max_batch_size"], text
    assert served_after == served_before
    assert spec.read_text() == spec_before and config_path.read_text() == config_before
    assert _infer(served, batch=served_before["max_batch_size"]).shape == (served_before["max_batch_size"], 2)
