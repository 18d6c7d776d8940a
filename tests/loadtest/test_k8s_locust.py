"""k8s/locust: the in-cluster Locust is valid Kubernetes and runs today's loadtest/ files."""

from __future__ import annotations

import ast
import base64
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DIR = ROOT / "k8s" / "locust"
KUBE = "1.30.0"


def objects() -> list[dict]:
    docs = []
    for f in sorted(DIR.glob("*.yaml")):
        if f.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(f.read_text()) if d]
    return docs


def test_the_configmap_holds_the_current_locustfile_and_shapes():
    res = subprocess.run([sys.executable, str(DIR / "gen_configmap.py"), "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr + " (run `make locust-configmap`)"


def loadtest_imports(path: Path, seen: set[str] | None = None) -> set[str]:
    """File names of the loadtest/ modules `path` imports, directly or through each other."""
    seen = set() if seen is None else seen
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
        for name in names:
            local = ROOT / "loadtest" / f"{name.split('.')[0]}.py"
            if local.exists() and local.name not in seen:
                seen.add(local.name)
                loadtest_imports(local, seen)
    return seen


def test_the_pods_see_the_locustfile_and_every_loadtest_module_it_imports():
    imported = loadtest_imports(ROOT / "loadtest" / "locustfile.py")
    assert "triton_users.py" in imported  # the reusable users live beside the thin locustfile
    cm = next(o for o in objects() if o["kind"] == "ConfigMap")
    assert {"locustfile.py", *imported} <= set(cm["data"]), "add the module to FILES in k8s/locust/gen_configmap.py"
    for d in (o for o in objects() if o["kind"] == "Deployment"):
        pod = d["spec"]["template"]["spec"]
        c = pod["containers"][0]
        folder = str(Path(next(e["value"] for e in c["env"] if e["name"] == "LOCUST_LOCUSTFILE")).parent)
        volume = next(v for v in pod["volumes"] if v.get("configMap", {}).get("name") == cm["metadata"]["name"])
        assert "items" not in volume["configMap"], "an items list would mount only some of the files"
        mount = next(m for m in c["volumeMounts"] if m["name"] == volume["name"])
        assert mount["mountPath"] == folder and "subPath" not in mount


def test_the_configmap_samples_are_png_digits():
    cm = next(o for o in objects() if o["kind"] == "ConfigMap")
    assert cm["binaryData"], "no digit samples in the ConfigMap"
    for name, data in cm["binaryData"].items():
        assert name.startswith("digit_") and name.endswith(".png")
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_manifest_validates_against_kubernetes_schemas():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    objs = objects()
    assert {o["kind"] for o in objs} == {"ConfigMap", "Deployment", "Service"}
    for obj in objs:
        kubernetes_validate.validate(obj, KUBE, strict=True)


def test_master_and_workers_point_at_the_triton_service_and_mount_the_configmap():
    deps = {o["metadata"]["name"]: o for o in objects() if o["kind"] == "Deployment"}
    assert set(deps) == {"locust-master", "locust-worker"}
    svc = next(o for o in objects() if o["kind"] == "Service")
    assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == {"web": 8089, "master": 5557}
    assert svc["spec"]["selector"].items() <= deps["locust-master"]["spec"]["template"]["metadata"]["labels"].items()
    for name, d in deps.items():
        c = d["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e["value"] for e in c["env"]}
        assert env["LOCUST_HOST"] == "http://triton:8000" and env["TRITON_GRPC_HOST"] == "triton:8001"
        assert env["LOCUST_LOCUSTFILE"] == "/mnt/locust/locustfile.py" and env["TRITON_SAMPLES"] == "/mnt/locust"
        assert any(m["mountPath"] == "/mnt/locust" for m in c["volumeMounts"])
        sc = c["securityContext"]
        assert sc["readOnlyRootFilesystem"] and sc["runAsNonRoot"] and not sc["allowPrivilegeEscalation"]
        assert "limits" in c["resources"] and "requests" in c["resources"]
    assert "--master" in deps["locust-master"]["spec"]["template"]["spec"]["containers"][0]["args"]
    worker_args = deps["locust-worker"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert worker_args[worker_args.index("--master-host") + 1] == svc["metadata"]["name"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (client) not installed")
def test_the_kustomization_builds_offline_into_the_triton_namespace():
    res = subprocess.run(["kubectl", "kustomize", str(DIR)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    built = [d for d in yaml.safe_load_all(res.stdout) if d]
    assert len(built) == 4
    assert {d["metadata"].get("namespace") for d in built} == {"triton"}
