"""The chart's Triton arguments start a real Triton (the binary of nvidia-pytriton, on CPU):
the probe paths answer, the `helm test` script passes against it, and every Triton metric the
chart's rules, KEDA queries and dashboard use is on its /metrics endpoint."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request

import pytest

import helm_engine
import podkit

pytestmark = [pytest.mark.integration, pytest.mark.slow]

def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except (urllib.error.URLError, OSError):  # not listening yet
        return 0, ""


@pytest.fixture(scope="module")
def triton(tmp_path_factory, render, scenario_values):
    tmp = tmp_path_factory.mktemp("triton")
    repo = tmp / "repo"
    podkit.write_double_model(repo)
    with podkit.start_chart_triton(render(scenario_values["cpu-only-values"]), repo, tmp, sandbox=False) as server:
        yield {"base": f"http://{server.http}", "ports": server.ports, "args": server.args, "log": server.log}


def test_the_probe_paths_should_answer_200_on_a_triton_started_with_the_chart_args(triton):
    assert get(f"{triton['base']}/v2/health/ready")[0] == 200
    assert get(f"{triton['base']}/v2/health/live")[0] == 200


def test_the_helm_test_script_should_pass_against_a_real_triton(triton):
    env = {**os.environ, "TRITON_HOST": "localhost", "HTTP_PORT": str(triton["ports"]["http"]),
           "GRPC_PORT": str(triton["ports"]["grpc"]), "TIMEOUT_SECONDS": "30"}
    proc = subprocess.run([sys.executable, str(helm_engine.CHART / "files" / "smoke_test.py")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "grpc: double -> y" in proc.stdout and "http: double -> y" in proc.stdout


def test_every_non_gpu_metric_the_chart_queries_should_be_exposed_by_triton(triton, render, scenario_values):
    test_the_helm_test_script_should_pass_against_a_real_triton(triton)
    status, text = get(f"http://localhost:{triton['ports']['metrics']}/metrics")
    assert status == 200
    exposed = set(re.findall(r"^(nv_[a-z_]+)", text, re.M))
    rendered = "\n".join("\n".join(render(scenario_values[s], raw=True).values())
                         for s in ("autoscaling-adapter-values", "keda-values"))
    rendered += (helm_engine.CHART / "files" / "dashboard.json").read_text()
    used = {m for m in re.findall(r"\bnv_[a-z_]+", rendered) if not m.startswith(("nv_gpu_", "nv_energy_"))}
    assert used - exposed == set(), f"not on /metrics: {sorted(used - exposed)}"


def test_the_helm_test_script_should_send_the_inputs_given_in_values(triton, render):
    pod = next(o for o in render({"tests": {"model": "double", "inputs": [
        {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}}) if o["kind"] == "Pod")
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    env.update(TRITON_HOST="localhost", HTTP_PORT=str(triton["ports"]["http"]), GRPC_PORT=str(triton["ports"]["grpc"]))
    proc = subprocess.run([sys.executable, str(helm_engine.CHART / "files" / "smoke_test.py")],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "http: double -> y" in proc.stdout


def test_grpc_connections_should_be_recycled_at_the_max_connection_age_the_chart_sets(tmp_path, render, scenario_values):
    """server.grpcMaxConnectionAgeSeconds: Triton 2.51 accepts the flags the chart renders and
    closes a gRPC connection at that age (GOAWAY), so the client's channel leaves READY and the next
    call resolves the Service again (that is how it finds pods added by a scale-up)."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    repo = podkit.write_double_model(tmp_path / "repo")
    values = {**scenario_values["cpu-only-values"], "server": {**scenario_values["cpu-only-values"].get("server", {}),
              "grpcMaxConnectionAgeSeconds": 1, "grpcMaxConnectionAgeGraceSeconds": 1}}
    with podkit.start_chart_triton(render(values), repo, tmp_path, sandbox=False) as server:
        assert "--grpc-max-connection-age=1000" in server.args
        states: list = []
        with grpc.insecure_channel(server.grpc) as channel:
            assert service_pb2_grpc.GRPCInferenceServiceStub(channel).ServerLive(service_pb2.ServerLiveRequest(), timeout=10).live
            channel.subscribe(states.append, try_to_connect=False)
            deadline = time.monotonic() + 60  # the age is 1 s (+ up to 10 % jitter) and 1 s of grace
            while grpc.ChannelConnectivity.IDLE not in states and time.monotonic() < deadline:
                time.sleep(0.1)
            channel.unsubscribe(states.append)
        assert grpc.ChannelConnectivity.READY in states and grpc.ChannelConnectivity.IDLE in states, states
