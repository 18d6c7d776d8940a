"""`helm test` on the rehearsal cluster: the hook pod is admitted under the restricted Pod
Security level and reaches Succeeded (kwok's stage for helm test hooks stands in for the
kubelet), and the same pod's command, env and script (as the API server stored them) run for real
against a local Triton started with the live Deployment's container args and env: the hook's
wiring and the script are both proved. The pod's addresses are never dialled: the script's host
is 127.0.0.1 and its ports the local server's."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml
from releases import RELEASE, install, uninstall, values_path

import podkit

pytestmark = [pytest.mark.integration, pytest.mark.slow]
VALUES = {"gpu": {"enabled": False}, "modelRepository": {"source": "s3", "s3": {"url": "s3://models/repository"}}}


def test_helm_test_is_admitted_succeeds_and_its_script_passes_against_the_charts_triton(kube, namespace, tmp_path):
    try:
        install(kube, namespace, ["-f", values_path(tmp_path, VALUES)])
        result = kube.helm("test", RELEASE, "-n", namespace, "--timeout", "60s", check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert re.search(r"Phase:\s+Succeeded", result.stdout), result.stdout

        hooks = [d for d in yaml.safe_load_all(kube.helm("get", "hooks", RELEASE, "-n", namespace).stdout) if d]
        pod = next(h for h in hooks if h["kind"] == "Pod")
        script = next(h for h in hooks if h["kind"] == "ConfigMap" and "smoke_test.py" in h.get("data", {}))
        scripts = tmp_path / "scripts"
        scripts.mkdir()
        for key, text in script["data"].items():  # every key, as the volume mounts them (triton_wire.py too)
            (scripts / key).write_text(text)

        # the live objects, Secrets included: podkit resolves env and $(VAR) as the kubelet would
        deployment = kube.get("deployment", RELEASE, namespace)
        secrets = kube.items("secrets", namespace=namespace)
        repo = tmp_path / "repository"
        podkit.write_double_model(repo)
        with podkit.start_chart_triton([deployment, *secrets], repo, tmp_path / "triton", sandbox=False) as server:
            container = pod["spec"]["containers"][0]
            env = podkit.container_env(container, secrets)
            service = {p["name"]: str(p["port"]) for p in kube.get("service", RELEASE, namespace)["spec"]["ports"]}
            assert (env["HTTP_PORT"], env["GRPC_PORT"]) == (service["http"], service["grpc"])
            assert env["TRITON_HOST"] == f"{RELEASE}.{namespace}.svc"
            env.update(TRITON_HOST="127.0.0.1", HTTP_PORT=str(server.ports["http"]),
                       GRPC_PORT=str(server.ports["grpc"]))
            command = [sys.executable if c == "python3" else c for c in container["command"]]
            command = [str(scripts / "smoke_test.py") if c == "/scripts/smoke_test.py" else c for c in command]
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/scripts" in mounts  # the ConfigMap is where the command looks for the script
            args = [podkit.expand(a, env) for a in container.get("args", [])]
            proc = subprocess.run(command + args, env={**os.environ, **env},
                                  capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "grpc: double -> y" in proc.stdout and "http: double -> y" in proc.stdout, proc.stdout
    finally:
        uninstall(kube, namespace)
