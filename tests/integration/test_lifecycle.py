"""Versions side by side, explicit load/unload, a live update in poll mode with zero failed
requests, models that fail to load, and a clean shutdown with requests in flight."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from serverkit import SteadyLoad, run_tritonctl, start_server, stop_server
from fixture_repo import Linear, build_broken_models, build_fixture_repo, eager_outputs, export_onnx, linear_config, write_config, write_slow_model

from tritonctl import client as tc
from tritonctl.errors import ClientError
from tritonctl.process import pid_alive

pytestmark = pytest.mark.integration

X = np.linspace(-1, 1, 30, dtype=np.float32).reshape(3, 10)


def wait_until(condition, timeout: float, interval: float = 0.02) -> bool:
    """Poll a state until it holds or `timeout` passes; returns the last answer."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def index(served) -> dict:
    req = urllib.request.Request(f"http://{served.http_url}/v2/repository/index", data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return {(m["name"], m.get("version", "")): m for m in json.loads(resp.read())}


def test_two_versions_are_served_side_by_side(client):
    """linear_ab: version_policy specific [1, 2]; each version addressable, the default is the latest."""
    v1 = tc.infer(client, "linear_ab", {"x": X}, version="1")["y"]
    v2 = tc.infer(client, "linear_ab", {"x": X}, version="2")["y"]
    latest = tc.infer(client, "linear_ab", {"x": X})["y"]
    np.testing.assert_allclose(v1, eager_outputs(Linear(0), X)[0], atol=1e-5)
    np.testing.assert_allclose(v2, eager_outputs(Linear(1, scale=3.0), X)[0], atol=1e-5)
    np.testing.assert_array_equal(latest, v2)
    assert sorted(tc.get_metadata(client, "linear_ab")["versions"]) == ["1", "2"]


@pytest.fixture(scope="module")
def explicit_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("explicit")
    repo = root / "repo"
    build_fixture_repo(repo)
    write_slow_model(repo)
    served = start_server(repo, root, "--model-control-mode", "explicit", "--model", "linear")
    try:
        yield served
    finally:
        stop_server(served)


def test_explicit_mode_loads_only_what_was_asked(explicit_server):
    idx = index(explicit_server)
    assert idx[("linear", "1")]["state"] == "READY"
    assert ("linear_ab", "1") not in idx or idx[("linear_ab", "1")]["state"] != "READY"


def test_load_and_unload_through_the_repository_api(explicit_server):
    s = explicit_server
    g = tc.make_client(s.grpc_url, "grpc")
    try:
        with pytest.raises(ClientError):
            tc.infer(g, "linear_ab", {"x": X})
        res = run_tritonctl("load", "linear_ab", "--url", s.grpc_url)
        assert res.returncode == 0 and "loaded linear_ab" in res.stdout, res.stderr
        assert g.is_model_ready("linear_ab", "1") and g.is_model_ready("linear_ab", "2")
        np.testing.assert_allclose(tc.infer(g, "linear_ab", {"x": X}, version="2")["y"], eager_outputs(Linear(1, scale=3.0), X)[0], atol=1e-5)
        res = run_tritonctl("unload", "linear_ab", "--url", f"http://{s.http_url}")
        assert res.returncode == 0 and "unloaded linear_ab" in res.stdout, res.stderr
        wait_until(lambda: not g.is_model_ready("linear_ab"), 30, 0.2)
        with pytest.raises(ClientError):
            tc.infer(g, "linear_ab", {"x": X})
        res = run_tritonctl("infer", "linear_ab", "--url", s.grpc_url, "--load", "--version", "1")
        assert res.returncode == 0 and "linear_ab v1 over grpc" in res.stdout, res.stderr
        res = run_tritonctl("load", "no_such_model", "--url", s.grpc_url)
        assert res.returncode == 1 and "no_such_model" in res.stderr
    finally:
        # the module's server goes back to what the fixture promised: only `linear` loaded
        try:
            g.unload_model("linear_ab")
            wait_until(lambda: not g.is_model_ready("linear_ab"), 60, 0.2)
        finally:
            g.close()


def test_sigterm_lets_in_flight_requests_finish_and_leaves_no_stub(tmp_path):
    """A short-lived server: three 1-second requests in flight when serve gets SIGTERM."""
    repo = tmp_path / "repo"
    repo.mkdir()
    started = tmp_path / "started"
    write_slow_model(repo, started)
    served = start_server(repo, tmp_path)
    try:
        assert len(served.stub_pids()) == 4, "instance_group count 4: four stub processes"
        data = np.arange(4, dtype=np.float32)

        def call(i):
            c = tc.make_client(served.grpc_url, "grpc")
            try:
                return tc.infer(c, "slow", {"x": data + i})["y"]
            finally:
                c.close()

        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(call, i) for i in range(3)]
            # the state to wait for: all three executions have begun (each then takes 1 s)
            wait_until(lambda: len(list(started.iterdir())) == 3 or any(f.done() for f in futures), 120)
            assert len(list(started.iterdir())) == 3, [f.result() for f in futures if f.done()]
            served.proc.send_signal(signal.SIGTERM)
            results = [f.result(timeout=60) for f in futures]
        for i, y in enumerate(results):
            np.testing.assert_array_equal(y, (data + i) * 2)
        assert served.proc.wait(timeout=60) == 0
        out = served.output.read_text()
        assert "SIGTERM: stopping" in out and "stopped" in out
        assert served.stub_pids() == []
    finally:
        stop_server(served)


def test_poll_mode_publishes_a_new_version_with_zero_failed_requests(tmp_path):
    repo = tmp_path / "repo"
    x = torch.randn(2, 10)
    export_onnx(Linear(0), (x,), repo / "live" / "1" / "model.onnx", ["x"], ["y"])
    write_config(repo / "live", linear_config("live", "onnxruntime_onnx"))
    served = start_server(repo, tmp_path, "--model-control-mode", "poll", "--poll-secs", "1")
    want_v1 = eager_outputs(Linear(0), X)[0]
    want_v2 = eager_outputs(Linear(7, scale=2.0), X)[0]
    seen = {"v1": 0, "v2": 0, "other": 0}
    per_protocol = {"grpc": 0, "http": 0}
    failures: list = []
    stop = threading.Event()

    def traffic(protocol):
        c = tc.make_client(served.url(protocol), protocol)
        try:
            while not stop.is_set():
                try:
                    y = tc.infer(c, "live", {"x": X})["y"]
                except Exception as exc:  # every failure is a test failure, collected
                    failures.append(f"{protocol}: {exc}")
                    continue
                key = "v1" if np.allclose(y, want_v1, atol=1e-5) else "v2" if np.allclose(y, want_v2, atol=1e-5) else "other"
                seen[key] += 1
                per_protocol[protocol] += 1
        finally:
            c.close()

    threads = [threading.Thread(target=traffic, args=(p,)) for p in ("grpc", "http")]
    try:
        for t in threads:
            t.start()
        # both protocols are answering version 1 before version 2 appears
        wait_until(lambda: min(per_protocol.values()) >= 5 or failures, 60)
        # publish version 2 the way the build does: write elsewhere, then rename into place
        staging = tmp_path / "staging"
        export_onnx(Linear(7, scale=2.0), (x,), staging / "model.onnx", ["x"], ["y"])
        os.rename(staging, repo / "live" / "2")
        wait_until(lambda: seen["v2"] >= 20 or failures, 120, 0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        stop_server(served)
    assert failures == []
    assert seen["v1"] > 0 and seen["v2"] >= 20 and seen["other"] == 0, seen


def test_models_that_fail_to_load_are_reported_and_the_others_keep_serving(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    x = torch.randn(2, 10)
    export_onnx(Linear(0), (x,), repo / "linear" / "1" / "model.onnx", ["x"], ["y"])
    write_config(repo / "linear", linear_config("linear", "onnxruntime_onnx"))
    expected = build_broken_models(repo)

    # without --keep-going: every reason printed, exit status 1, nothing left running
    failing = start_server(repo, tmp_path / "strict", expect_failure=True)
    try:
        code = failing.proc.wait(timeout=240)
    finally:
        stop_server(failing)
    out = failing.output.read_text()
    assert code == 1, out
    for name, fragment in expected.items():
        assert f"model '{name}' version 1 failed to load" in out and fragment in out, (name, out)
    assert "--keep-going" in out
    assert failing.stub_pids() == []

    # with --keep-going: the good model serves, the broken ones are UNAVAILABLE with their reason
    served = start_server(repo, tmp_path / "lenient", "--keep-going")
    try:
        idx = index(served)
        assert idx[("linear", "1")]["state"] == "READY"
        for name, fragment in expected.items():
            assert idx[(name, "1")]["state"] == "UNAVAILABLE" and fragment in idx[(name, "1")]["reason"]
        c = tc.make_client(served.http_url, "http")
        try:
            np.testing.assert_allclose(tc.infer(c, "linear", {"x": X})["y"], eager_outputs(Linear(0), X)[0], atol=1e-5)
        finally:
            c.close()
    finally:
        stop_server(served)


def linear_traffic(served) -> SteadyLoad:
    """Background load on `linear` over gRPC and HTTP, each answer checked against eager."""
    expected = eager_outputs(Linear(0), X)[0]
    return SteadyLoad(served, "linear", {"x": X}, "y",
                      check=lambda y: np.testing.assert_allclose(y, expected, atol=1e-5))


def linear_repo(root, instances: int = 1):
    from tritonclient.grpc import model_config_pb2 as mc

    repo = root / "repo"
    export_onnx(Linear(0), (torch.randn(2, 10),), repo / "linear" / "1" / "model.onnx", ["x"], ["y"])
    group = mc.ModelInstanceGroup(count=instances, kind=mc.ModelInstanceGroup.KIND_CPU)
    write_config(repo / "linear", linear_config("linear", "onnxruntime_onnx", instance_group=[group]))
    return repo


def test_a_tritonserver_killed_under_load_is_reported_and_serve_exits_non_zero(tmp_path):
    served = start_server(linear_repo(tmp_path), tmp_path)
    try:
        stubs = served.stub_pids()
        assert stubs
        with linear_traffic(served) as traffic:
            assert wait_until(lambda: traffic.ok >= 10 or traffic.errors, 120), "no traffic got through"
            assert not traffic.errors, traffic.errors[:3]
            pid = json.loads((served.state_dir / "server.pid").read_text())["pid"]
            os.kill(pid, signal.SIGKILL)
            code = served.proc.wait(timeout=120)
        out = served.output.read_text()
        assert code == 1, out
        assert f"tritonserver exited with status {-signal.SIGKILL}" in out, out
        assert traffic.errors, "requests after the kill should fail, not hang"
        # nothing is left behind: the stubs of the dead server go too
        assert wait_until(lambda: served.stub_pids() == [], 60, 0.2), served.stub_pids()
    finally:
        stop_server(served)


def stub_instance(pid: int) -> str:
    """The model instance a Python backend stub serves (its command line names it, as Triton 2.51's
    stub launcher writes it: binary, model file, shm region, sizes, parent pid, library dir, ipc
    handle, instance name, ...)."""
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[8].decode()


def stub_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if "backend stub" in line]


def failure_count(served, model: str) -> float:
    """Triton's nv_inference_request_failure for ``model`` (summed over its versions and reasons)."""
    with urllib.request.urlopen(served.metrics_url, timeout=10) as resp:
        lines = resp.read().decode().splitlines()
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines
               if line.startswith("nv_inference_request_failure{") and f'model="{model}"' in line)


def test_a_dead_stub_leaves_tritons_health_green_and_shows_only_as_failed_requests(tmp_path):
    """Why serve watches the stubs, and what a cluster sees (docs/serve.md): with nobody supervising
    (--detach), a stub killed stays dead, every request to its instance fails naming it, yet Triton's
    live, ready and model-ready endpoints keep answering 200 (the chart's probes); only the
    failure counter (the chart's TritonRequestFailures alert) shows it."""
    served = start_server(linear_repo(tmp_path, instances=1), tmp_path, "--detach", wait_for="running in the background")
    c = tc.make_client(served.http_url, "http")
    try:
        assert served.proc.wait(timeout=60) == 0, served.log()
        (stub,) = served.stub_pids()
        tc.infer(c, "linear", {"x": X})
        os.kill(stub, signal.SIGKILL)
        assert wait_until(lambda: served.stub_pids() == [], 60), served.stub_pids()
        for _ in range(3):
            with pytest.raises(ClientError, match=r"'linear'.*Stub process 'linear_0_0' is not healthy"):
                tc.infer(c, "linear", {"x": X})
        for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/linear/ready"):
            with urllib.request.urlopen(f"http://{served.http_url}{path}", timeout=10) as resp:
                assert resp.status == 200, path
        assert wait_until(lambda: failure_count(served, "linear") >= 3, 60, 0.2), failure_count(served, "linear")
        assert served.stub_pids() == [], "Triton 2.51 started a new stub: serve's supervision and the docs need a look"
    finally:
        c.close()
        stop_server(served)


def test_a_stub_killed_under_load_is_reported_and_serve_exits_non_zero(tmp_path):
    """One model instance, so one stub. Triton 2.51 neither restarts a dead stub nor reports it
    (live, ready and the model's readiness stay 200 while every request to that instance fails with
    "Stub process 'linear_0_0' is not healthy."), so serve does: one line naming the model, the
    instance and what to do; the server stopped with all its stubs; exit status 1, for a
    supervisor to restart it."""
    served = start_server(linear_repo(tmp_path, instances=1), tmp_path)
    try:
        (stub,) = served.stub_pids()
        assert stub_instance(stub) == "linear_0_0"
        server_pid = json.loads((served.state_dir / "server.pid").read_text())["pid"]
        with linear_traffic(served) as traffic:
            assert wait_until(lambda: traffic.ok >= 10 or traffic.errors, 120), "no traffic got through"
            assert not traffic.errors, traffic.errors[:3]
            os.kill(stub, signal.SIGKILL)
            code = served.proc.wait(timeout=120)
        out = served.output.read_text()
        assert code == 1, out
        (line,) = stub_lines(out)
        assert "model 'linear'" in line and "linear_0_0" in line and f"pid {stub}" in line, line
        assert "run `tritonctl serve` again" in line, line
        assert not pid_alive(server_pid), "the server must be stopped"
        assert wait_until(lambda: served.stub_pids() == [], 60, 0.2), served.stub_pids()
        assert not (served.state_dir / "server.pid").exists()
    finally:
        stop_server(served)


def test_an_unload_or_a_smaller_reload_is_not_taken_for_a_dead_stub(tmp_path):
    """Stubs also stop legitimately in explicit mode: an unload (`other`), and a reload with a
    smaller instance_group (`linear` 2 -> 1 instances: the new stub starts before both old ones
    stop, one of them under the same instance name). serve keeps serving through both; the new stub,
    killed the moment the old same-named one is gone (so that serve usually sees both gone at its
    next look), is then the only one it names, which also proves it was watching all along."""
    from tritonclient.grpc import model_config_pb2 as mc

    repo = linear_repo(tmp_path, instances=2)
    shutil.copytree(repo / "linear", repo / "other")
    one = mc.ModelInstanceGroup(count=1, kind=mc.ModelInstanceGroup.KIND_CPU)
    write_config(repo / "other", linear_config("other", "onnxruntime_onnx", instance_group=[one]))
    served = start_server(repo, tmp_path, "--model-control-mode", "explicit", "--model", "linear", "--model", "other")
    c = tc.make_client(served.http_url, "http")
    try:
        before = {stub_instance(p): p for p in served.stub_pids()}
        assert sorted(before) == ["linear_0_0", "linear_0_1", "other_0_0"], before

        tc.unload_model(c, "other")
        assert wait_until(lambda: before["other_0_0"] not in served.stub_pids(), 120, 0.2), served.log()
        assert served.proc.poll() is None, served.log()

        smaller = tc.get_config_message(c, "linear")
        del smaller.instance_group[:]
        smaller.instance_group.append(one)
        tc.load_model(c, "linear", config=smaller)
        (new_stub,) = set(served.stub_pids()) - set(before.values())
        assert stub_instance(new_stub) == "linear_0_0"
        np.testing.assert_allclose(tc.infer(c, "linear", {"x": X})["y"], eager_outputs(Linear(0), X)[0], atol=1e-5)
        assert wait_until(lambda: before["linear_0_0"] not in served.stub_pids(), 120), served.log()
        os.kill(new_stub, signal.SIGKILL)

        code = served.proc.wait(timeout=120)
        out = served.output.read_text()
        assert code == 1, out
        (line,) = stub_lines(out)
        assert f"pid {new_stub}" in line and "model 'linear'" in line, line
        for pid in before.values():
            assert not re.search(rf"\bpid {pid}\b", out), (pid, out)
    finally:
        c.close()
        stop_server(served)
