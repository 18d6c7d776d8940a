"""Roll forward and back on a running Triton under load: publish version 2, watch it serve, then
`tritonctl rollback` to version 1 and `--to latest` to version 2 again, with gRPC and HTTP
requests throughout and not one failed. Three ways the policy reaches the server: a polling
server reading the rewritten config.pbtxt; an explicit-mode server loading it; an explicit-mode
server given only a URL (a cluster's), which gets the policy with the load request."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
import torch
from fixture_repo import Linear, eager_outputs, export_onnx, linear_config, write_config
from serverkit import run_tritonctl, start_server, stop_server

from tritonctl import client as tc

pytestmark = pytest.mark.integration

X = np.linspace(-1, 1, 30, dtype=np.float32).reshape(3, 10)
WANT = {"v1": eager_outputs(Linear(0), X)[0], "v2": eager_outputs(Linear(7, scale=2.0), X)[0]}


class Traffic:
    """One closed-loop client per protocol; every answer classified as version 1, 2 or neither."""

    def __init__(self, served):
        self.served = served
        self.seen = {"v1": 0, "v2": 0, "other": 0}
        self.last: dict[str, str] = {}  # protocol -> the version of its latest answer
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(p,), daemon=True) for p in ("grpc", "http")]

    def _run(self, protocol):
        with tc.closing(tc.make_client(self.served.url(protocol), protocol)) as c:
            while not self.stop.is_set():
                try:
                    y = tc.infer(c, "live", {"x": X})["y"]
                except Exception as exc:  # every failure is a test failure, collected
                    with self.lock:
                        self.failures.append(f"{protocol}: {exc}")
                    time.sleep(0.05)
                    continue
                key = next((k for k, w in WANT.items() if np.allclose(y, w, atol=1e-5)), "other")
                with self.lock:
                    self.seen[key] += 1
                    self.last[protocol] = key

    def total(self) -> int:
        return sum(self.seen.values())

    def close(self) -> None:
        """Stop both clients and wait for them (a request in flight finishes first)."""
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def wait_for(self, key: str, n: int, timeout: float = 120) -> None:
        """Wait until ``n`` more answers of version ``key`` came back."""
        start, deadline = self.seen[key], time.monotonic() + timeout
        while self.seen[key] < start + n:
            assert not self.failures, self.failures[:3]
            assert time.monotonic() < deadline, f"no {n} answers of {key} within {timeout}s: {self.seen}"
            time.sleep(0.05)

    def only(self, key: str, n: int = 30, timeout: float = 60) -> None:
        """The next ``n`` answers are all version ``key``, once each client's latest answer is ``key``
        (a request in flight during the switch may still be answered by the old version)."""
        deadline = time.monotonic() + timeout
        while any(self.last.get(p) != key for p in ("grpc", "http")):
            assert not self.failures, self.failures[:3]
            assert time.monotonic() < deadline, f"not every client answered by {key} within {timeout}s: {self.last}"
            time.sleep(0.05)
        before = dict(self.seen)
        self.wait_for(key, n)
        assert {k: self.seen[k] - before[k] for k in self.seen if k != key} == {k: 0 for k in self.seen if k != key}, self.seen


def _rollback(*args):
    res = run_tritonctl("rollback", "live", *args, timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


@pytest.mark.parametrize("mode, with_repository", [("poll", True), ("explicit", True), ("explicit", False)],
                         ids=["poll", "explicit", "explicit-url-only"])
def test_roll_forward_back_and_forward_again_under_load_without_a_failed_request(tmp_path, mode, with_repository):
    repo = tmp_path / "repo"
    example = (torch.randn(2, 10),)
    export_onnx(Linear(0), example, repo / "live" / "1" / "model.onnx", ["x"], ["y"])
    write_config(repo / "live", linear_config("live", "onnxruntime_onnx"))
    extra = ["--poll-secs", "1"] if mode == "poll" else ["--model", "live"]
    served = start_server(repo, tmp_path, "--model-control-mode", mode, *extra)
    where = ["--repository", str(repo)] if with_repository else []
    traffic = Traffic(served)
    try:
        for t in traffic.threads:
            t.start()
        traffic.wait_for("v1", 10)

        # roll forward: publish version 2 as the build does (written elsewhere, renamed into place)
        staging = tmp_path / "staging"
        export_onnx(Linear(7, scale=2.0), example, staging / "model.onnx", ["x"], ["y"])
        os.rename(staging, repo / "live" / "2")
        if mode == "explicit":
            res = run_tritonctl("load", "live", "--url", served.grpc_url)
            assert res.returncode == 0, res.stderr
        traffic.only("v2")

        # roll back: the previous version, found by the command
        out = _rollback(served.grpc_url, *where)
        assert "live: serving version 1 (was 2); version policy 'specific 1'" in out, out
        traffic.only("v1")
        config = (repo / "live" / "config.pbtxt").read_text()
        assert ("versions: 1" in config) == with_repository, config  # the pin is in the repository only when given

        # and forward again, over HTTP this time
        out = _rollback(f"http://{served.http_url}", "--to", "latest", *where)
        assert "live: serving version 2 (was 1); version policy 'latest 1'" in out, out
        traffic.only("v2")
    finally:
        traffic.close()
        stop_server(served)
    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.seen["other"] == 0 and traffic.total() > 100, traffic.seen


def test_rollback_names_what_is_missing_when_there_is_no_older_version(tmp_path):
    repo = tmp_path / "repo"
    export_onnx(Linear(0), (torch.randn(2, 10),), repo / "live" / "1" / "model.onnx", ["x"], ["y"])
    write_config(repo / "live", linear_config("live", "onnxruntime_onnx"))
    served = start_server(repo, tmp_path, "--model-control-mode", "explicit", "--model", "live")
    try:
        res = run_tritonctl("rollback", "live", served.grpc_url, "--repository", str(repo))
        assert res.returncode == 1
        assert "model 'live' serves version 1 and no older version is known (the repository holds 1)" in res.stderr, res.stderr
        res = run_tritonctl("rollback", "live", served.grpc_url, "--to", "3", "--repository", str(repo))
        assert res.returncode == 1 and "model 'live' has no version 3 (the repository holds 1)" in res.stderr, res.stderr
    finally:
        stop_server(served)


@pytest.mark.parametrize("mode", ["poll", "explicit"])
def test_rollback_to_a_version_that_cannot_load_fails_at_once_with_tritons_reason_and_leaves_no_pin(tmp_path, mode):
    repo = tmp_path / "repo"
    export_onnx(Linear(0), (torch.randn(2, 10),), repo / "live" / "1" / "model.onnx", ["x"], ["y"])
    (repo / "live" / "2").mkdir()
    (repo / "live" / "2" / "model.onnx").write_bytes(b"not an onnx file")  # Triton cannot load it
    cfg = linear_config("live", "onnxruntime_onnx")
    cfg.version_policy.specific.versions.append(1)
    write_config(repo / "live", cfg)
    before = (repo / "live" / "config.pbtxt").read_text()
    extra = ["--poll-secs", "1"] if mode == "poll" else ["--model", "live"]
    served = start_server(repo, tmp_path, "--model-control-mode", mode, *extra)
    try:
        start = time.monotonic()
        res = run_tritonctl("rollback", "live", served.grpc_url, "--to", "2", "--repository", str(repo), "--timeout", "120")
        assert res.returncode == 1, res.stdout + res.stderr
        assert time.monotonic() - start < 60, "waited for the timeout instead of failing at the load"
        assert "version 2" in res.stderr and "load" in res.stderr and "onnx" in res.stderr.lower(), res.stderr
        assert "is restored" in res.stderr, res.stderr
        assert (repo / "live" / "config.pbtxt").read_text() == before
        with tc.closing(tc.make_client(served.grpc_url, "grpc")) as c:
            assert np.allclose(tc.infer(c, "live", {"x": X})["y"], WANT["v1"], atol=1e-5)  # version 1 still serves
    finally:
        stop_server(served)


@pytest.mark.parametrize("with_repository", [True, False], ids=["repository", "url-only"])
def test_roll_forward_brings_back_the_models_own_policy(tmp_path, with_repository):
    """A model on `latest: 2` (the README walkthrough's) serves 1 and 2; rolled back it serves 1;
    `--to latest` serves 1 and 2 again, not `latest 1`."""
    repo = tmp_path / "repo"
    export_onnx(Linear(0), (torch.randn(2, 10),), repo / "live" / "1" / "model.onnx", ["x"], ["y"])
    export_onnx(Linear(7, scale=2.0), (torch.randn(2, 10),), repo / "live" / "2" / "model.onnx", ["x"], ["y"])
    cfg = linear_config("live", "onnxruntime_onnx")
    cfg.version_policy.latest.num_versions = 2
    write_config(repo / "live", cfg)
    served = start_server(repo, tmp_path, "--model-control-mode", "explicit", "--model", "live")
    where = ["--repository", str(repo)] if with_repository else []
    try:
        out = _rollback(served.grpc_url, *where)
        assert "live: serving version 1 (was 1, 2); version policy 'specific 1'" in out, out
        out = _rollback(served.grpc_url, "--to", "latest", *where)
        assert "live: serving version 1, 2 (was 1); version policy 'latest 2'" in out, out
        if with_repository:
            from tritonctl.config import read_config

            assert read_config(repo / "live" / "config.pbtxt").version_policy.latest.num_versions == 2
    finally:
        stop_server(served)
