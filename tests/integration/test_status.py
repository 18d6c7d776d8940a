"""`tritonctl status` against a real local Triton: every model of the repository, its versions and
states, the version policy, what the repository holds but the server does not serve, and the
request counts and latency split of Triton's statistics extension."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest
import torch
from fixture_repo import Linear, export_onnx, linear_config, write_config
from serverkit import run_tritonctl, start_server, stop_server

from tritonctl import client as tc

pytestmark = pytest.mark.integration

X = np.linspace(-1, 1, 30, dtype=np.float32).reshape(3, 10)
PARTS = ("queue", "compute_input", "compute_infer", "compute_output")


def _model(repo, name, versions, policy=None):
    for v in versions:
        export_onnx(Linear(v), (torch.randn(2, 10),), repo / name / str(v) / "model.onnx", ["x"], ["y"])
    cfg = linear_config(name, "onnxruntime_onnx")
    cfg.dynamic_batching.max_queue_delay_microseconds = 0
    if policy:
        cfg.version_policy.specific.versions.extend(policy)
    write_config(repo / name, cfg)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Explicit mode: `lin` (versions 1, 2; the default policy serves 2) and `ab` (specific 1, 2)
    loaded, `idle` in the repository but never loaded."""
    root = tmp_path_factory.mktemp("status")
    repo = root / "repo"
    _model(repo, "lin", [1, 2])
    _model(repo, "ab", [1, 2], policy=[1, 2])
    _model(repo, "idle", [1])
    s = start_server(repo, root, "--model-control-mode", "explicit", "--model", "lin", "--model", "ab")
    try:
        yield s
    finally:
        stop_server(s)


def _status(*args):
    res = run_tritonctl("status", *args)
    assert res.returncode == 0, res.stderr
    return res


def test_status_reports_versions_policies_repository_and_the_requests_each_version_answered(served):
    with tc.closing(tc.make_client(served.grpc_url, "grpc")) as c:
        for _ in range(5):
            tc.infer(c, "lin", {"x": X[:1]})
        for _ in range(3):
            tc.infer(c, "ab", {"x": X[:1]}, version="1")
        for _ in range(4):
            tc.infer(c, "ab", {"x": X}, version="2")  # a batch of 3 per request
    report = json.loads(_status(served.grpc_url, "--repository", str(served.repo), "--json").stdout)
    models = {m["name"]: m for m in report["models"]}
    assert sorted(models) == ["ab", "idle", "lin"]
    assert report["server_version"] == "2.51.0"

    lin = {v["version"]: v for v in models["lin"]["versions"]}
    assert models["lin"]["policy"] == "latest 1"
    assert (lin["2"]["state"], lin["2"]["requests"], lin["2"]["inferences"]) == ("READY", 5, 5)
    assert lin["1"]["state"] != "READY" and lin["1"]["requests"] == 0
    assert models["lin"]["repository_versions"] == [1, 2]
    assert models["lin"]["served"] == ["2"] and models["lin"]["not_served"] == [1]

    ab = {v["version"]: v for v in models["ab"]["versions"]}
    assert models["ab"]["policy"] == "specific 1,2" and models["ab"]["served"] == ["1", "2"]
    assert (ab["1"]["requests"], ab["2"]["requests"], ab["2"]["inferences"]) == (3, 4, 12)

    assert models["idle"]["served"] == [] and models["idle"]["not_served"] == [1]
    assert models["idle"]["policy"] == "latest 1"  # from the repository's config: the server has none to give
    assert [v["state"] for v in models["idle"]["versions"]] == ["UNLOADED"]

    split = lin["2"]["latency_ms"]
    assert split["request"] > 0 and all(split[p] >= 0 for p in PARTS)
    # Triton's request time contains its parts: what is left is the overhead, never negative
    assert sum(split[p] for p in PARTS) <= split["request"] + 1e-6
    assert split["overhead"] == pytest.approx(split["request"] - sum(split[p] for p in PARTS), abs=1e-6)


def test_status_without_a_url_finds_the_local_server_and_its_repository(served):
    res = _status("--state-dir", str(served.state_dir), "--protocol", "http")
    out = res.stdout
    # the address `serve` recorded in its pid file, the repository it serves
    assert f"at http://127.0.0.1:{served.http_port}, repository {served.repo}, model control mode explicit" in out, out
    lines = out.splitlines()
    lin = lines.index(next(line for line in lines if line.startswith("lin ")))
    assert lines[lin].split()[:7] == ["lin", "1", "UNLOADED", "latest", "1", "0", "0"], out
    with tc.closing(tc.make_client(served.grpc_url, "grpc")) as c:
        tc.infer(c, "lin", {"x": X[:1]})
    counted = json.loads(_status(served.grpc_url, "--json").stdout)  # nothing sent between the two reads
    want = next(v for m in counted["models"] if m["name"] == "lin" for v in m["versions"] if v["version"] == "2")
    lines = _status("--state-dir", str(served.state_dir)).stdout.splitlines()
    assert want["requests"] >= 1 and lines[lin + 1].split()[:4] == ["2", "READY", str(want["requests"]), "0"], lines
    assert "lin: the repository holds version(s) 1 the server does not serve (policy latest 1)" in out
    assert "idle: the repository holds version(s) 1 the server does not serve" in out


def test_status_without_a_repository_shows_the_policy_of_a_model_it_does_not_serve_as_unknown(served, tmp_path):
    """The server lists `idle` (explicit mode, never loaded) but gives no config for it: no guess."""
    report = json.loads(_status(served.grpc_url, "--json", "--state-dir", str(tmp_path)).stdout)
    models = {m["name"]: m for m in report["models"]}
    assert models["idle"]["served"] == [] and models["idle"]["policy"] == "unknown", models["idle"]
    assert models["lin"]["policy"] == "latest 1"  # served: the server's own config says


def test_status_of_a_server_that_is_not_there_names_the_address_and_the_fix(served, tmp_path):
    from serverkit import free_port

    res = run_tritonctl("status", f"localhost:{free_port()}", "--state-dir", str(tmp_path))
    assert res.returncode == 1
    assert "cannot reach a server at grpc://localhost:" in res.stderr and "tritonctl serve" in res.stderr, res.stderr


def test_status_and_rollback_send_the_admin_key_a_restricted_repository_api_asks_for(tmp_path):
    """The chart restricts Triton's repository API to requests carrying a key (server.restrictedApis)."""
    from tritonctl.server.health import is_ready
    from tritonctl.server.launcher import LocalServer, ServerOptions
    from serverkit import free_ports

    repo = tmp_path / "repo"
    _model(repo, "lin", [1, 2])
    rule = "model-repository,statistics:triton-admin-key=s3cret"
    ports = free_ports(3)
    server = LocalServer(ServerOptions(repo, *ports, state_dir=tmp_path / "state", exit_timeout_secs=5,
                                       model_control_mode="explicit", load_models=["lin"],
                                       extra_args=[f"--http-restricted-api={rule}", f"--grpc-restricted-protocol={rule}"]))
    server.start()
    try:
        # wait_ready reads the repository index, which needs the key here: health is open
        deadline = time.monotonic() + 120
        while not is_ready(f"localhost:{ports[0]}"):
            assert server.running() and time.monotonic() < deadline, server.log_tail()
            time.sleep(0.2)
        for url in (f"localhost:{ports[1]}", f"http://localhost:{ports[0]}"):
            res = run_tritonctl("status", url, "--state-dir", str(tmp_path / "none"))
            assert res.returncode == 1 and "--admin-key" in res.stderr and "TRITON_ADMIN_KEY" in res.stderr, res.stderr
            res = run_tritonctl("status", url, "--json", "--state-dir", str(tmp_path / "none"),
                                env={**os.environ, "TRITON_ADMIN_KEY": "s3cret"})
            assert res.returncode == 0, res.stderr
            assert json.loads(res.stdout)["models"][0]["served"] == ["2"]
        grpc = f"localhost:{ports[1]}"
        res = run_tritonctl("rollback", "lin", grpc, "--state-dir", str(tmp_path / "none"))
        assert res.returncode == 1 and "--admin-key" in res.stderr, res.stderr
        res = run_tritonctl("rollback", "lin", grpc, "--admin-key", "s3cret", "--state-dir", str(tmp_path / "none"))
        # the server never loaded version 1, so it does not list it: the command does not guess
        assert res.returncode == 1 and "(the server lists 2); name one with --to VERSION, or give the repository" in res.stderr
        res = run_tritonctl("rollback", "lin", grpc, "--to", "1", "--admin-key", "s3cret", "--state-dir", str(tmp_path / "none"))
        assert res.returncode == 0 and "lin: serving version 1 (was 2)" in res.stdout, res.stdout + res.stderr
    finally:
        server.stop(timeout=30)
