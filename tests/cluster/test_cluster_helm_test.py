"""`helm test` on the rehearsal cluster: the hook pod is admitted under the restricted Pod
Security level and reaches Succeeded (kwok's stage for helm test hooks stands in for the
kubelet), and the same pod's command, env and script (as the API server stored them) run for real
against a local Triton started with the live Deployment's container args and env: the hook's
wiring and the script are both proved. The pod's addresses are never dialled: the script's host
is 127.0.0.1 and its ports the local server's."""

from __future__ import annotations

import base64
import copy
import os
import re
import subprocess
import sys

import pytest
import yaml
from kubekit import Kube
from releases import RELEASE, install, uninstall, values_path

import podkit

pytestmark = [pytest.mark.integration, pytest.mark.slow]
VALUES = {"gpu": {"enabled": False}, "modelRepository": {"source": "s3", "s3": {"url": "s3://models/repository"}}}


def resolve_env(kube: Kube, namespace: str, container: dict) -> dict:
    """The container as the kubelet would run it: env values from Secrets read from the API
    server, ``$(VAR)`` references in args expanded."""
    resolved = copy.deepcopy(container)
    env = {}
    for entry in resolved.get("env") or []:
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            secret = kube.get("secret", ref["name"], namespace)
            entry["value"] = base64.b64decode(secret["data"][ref["key"]]).decode()
            del entry["valueFrom"]
        entry.setdefault("value", "")  # the API server drops an empty value
        env[entry["name"]] = entry["value"]
    resolved["args"] = [re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), a)
                        for a in resolved.get("args", [])]
    return resolved


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
        (scripts / "smoke_test.py").write_text(script["data"]["smoke_test.py"])

        deployment = kube.get("deployment", RELEASE, namespace)
        spec = deployment["spec"]["template"]["spec"]
        spec["containers"] = [resolve_env(kube, namespace, c) if c["name"] == "triton" else c for c in spec["containers"]]
        repo = tmp_path / "repository"
        podkit.write_double_model(repo)
        with podkit.start_chart_triton([deployment], repo, tmp_path / "triton", sandbox=False) as server:
            container = resolve_env(kube, namespace, pod["spec"]["containers"][0])
            env = {e["name"]: e["value"] for e in container["env"]}
            service = {p["name"]: str(p["port"]) for p in kube.get("service", RELEASE, namespace)["spec"]["ports"]}
            assert (env["HTTP_PORT"], env["GRPC_PORT"]) == (service["http"], service["grpc"])
            assert env["TRITON_HOST"] == f"{RELEASE}.{namespace}.svc"
            env.update(TRITON_HOST="127.0.0.1", HTTP_PORT=str(server.ports["http"]),
                       GRPC_PORT=str(server.ports["grpc"]))
            command = [sys.executable if c == "python3" else c for c in container["command"]]
            command = [str(scripts / "smoke_test.py") if c == "/scripts/smoke_test.py" else c for c in command]
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/scripts" in mounts  # the ConfigMap is where the command looks for the script
            proc = subprocess.run(command + container.get("args", []), env={**os.environ, **env},
                                  capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "grpc: double -> y" in proc.stdout and "http: double -> y" in proc.stdout, proc.stdout
    finally:
        uninstall(kube, namespace)
