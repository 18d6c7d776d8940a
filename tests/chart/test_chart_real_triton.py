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
    objs = render(scenario_values["cpu-only-values"])
    with podkit.start_chart_triton(objs, repo, tmp, sandbox=False) as server:
        yield {"base": f"http://{server.http}", "ports": server.ports, "args": server.args, "log": server.log,
               "objs": objs}


def smoke_env(triton, pod: dict | None = None) -> dict:
    """The helm test pod's env (the release's own Pod unless another render's is given) as the
    kubelet gives it: the key read from the server's Secret (the Secret outlives upgrades, so a
    later render's test pod gets the same one), pointed at the local server."""
    pod = pod or next(o for o in triton["objs"] if o["kind"] == "Pod")
    env = podkit.container_env(pod["spec"]["containers"][0], triton["objs"])
    env.update(TRITON_HOST="localhost", HTTP_PORT=str(triton["ports"]["http"]),
               GRPC_PORT=str(triton["ports"]["grpc"]), TIMEOUT_SECONDS="30")
    return env


def run_smoke_script(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(helm_engine.CHART / "files" / "smoke_test.py")],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_the_probe_paths_should_answer_200_on_a_triton_started_with_the_chart_args(triton):
    assert get(f"{triton['base']}/v2/health/ready")[0] == 200
    assert get(f"{triton['base']}/v2/health/live")[0] == 200


def test_the_helm_test_script_should_pass_against_a_real_triton(triton):
    proc = run_smoke_script(smoke_env(triton))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "grpc: double -> y" in proc.stdout and "http: double -> y" in proc.stdout


def test_the_helm_test_script_without_the_key_should_be_refused_by_the_restricted_repository_api(triton):
    """The negative control: the script passes above because it sends the key, not by chance."""
    proc = run_smoke_script({**smoke_env(triton), "RESTRICTED_API_KEY": ""})
    assert proc.returncode != 0
    assert "restricted" in proc.stdout + proc.stderr


def test_the_restricted_apis_should_answer_only_requests_that_carry_the_key(triton):
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    container = next(o for o in triton["objs"] if o["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    env = podkit.container_env(container, triton["objs"])
    flag = next(a for a in podkit.chart_args(container, triton["ports"], env=env) if a.startswith("--http-restricted-api="))
    header, key = flag.split(":", 1)[1].split("=", 1)  # <apis>:<header>=<key>, the key expanded from the Secret

    def index(headers):
        request = urllib.request.Request(f"{triton['base']}/v2/repository/index", data=b"{}", method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert index({}) == 403
    assert index({header: "not-the-key"}) == 403
    assert index({header: key}) == 200
    assert get(f"{triton['base']}/v2/models/double")[0] == 200  # metadata stays open
    client = grpcclient.InferenceServerClient(f"localhost:{triton['ports']['grpc']}")
    with pytest.raises(InferenceServerException, match="restricted"):
        client.get_model_repository_index()
    assert client.get_model_repository_index(headers={f"triton-grpc-protocol-{header}": key}) is not None
    assert client.is_server_ready()  # health stays open


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
    proc = run_smoke_script(smoke_env(triton, pod))
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
