"""The control-plane tests' helpers: kubectl and helm (the built binaries) against the session's
rehearsal cluster, and waits on the API server's state (never a fixed sleep)."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "triton"
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted",
              "pod-security.kubernetes.io/enforce-version": "latest"}


class CommandFailed(AssertionError):
    def __init__(self, argv, result):
        self.result = result
        super().__init__(f"{' '.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")


@dataclass
class Kube:
    """kubectl/helm against one cluster (``info`` is tritonctl.cluster.controlplane.ClusterInfo)."""
    info: object

    @property
    def bin(self) -> Path:
        return Path(self.info.bin_dir)

    def run(self, tool: str, *args: str, input: str | None = None, check: bool = True,
            timeout: float = 300) -> subprocess.CompletedProcess:
        argv = [str(self.bin / tool), *args]
        result = subprocess.run(argv, input=input, text=True, capture_output=True, env=self.info.env(),
                                timeout=timeout, cwd=ROOT)
        if check and result.returncode != 0:
            raise CommandFailed(argv, result)
        return result

    def kubectl(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run("kubectl", *args, **kw)

    def helm(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run("helm", *args, **kw)

    def get(self, kind: str, name: str | None = None, namespace: str | None = None, selector: str | None = None):
        args = ["get", kind, *([name] if name else []), "-o", "json"]
        if namespace:
            args += ["-n", namespace]
        if selector:
            args += ["-l", selector]
        return json.loads(self.kubectl(*args).stdout)

    def items(self, kind: str, namespace: str | None = None, selector: str | None = None) -> list[dict]:
        return self.get(kind, namespace=namespace, selector=selector)["items"]

    def apply(self, objects: list[dict] | dict, *extra: str) -> subprocess.CompletedProcess:
        docs = objects if isinstance(objects, list) else [objects]
        return self.kubectl("apply", *extra, "-f", "-", input=yaml.safe_dump_all(docs))

    def namespace(self, name: str, labels: dict | None = None) -> str:
        """Create namespace ``name`` (restricted Pod Security unless ``labels`` say otherwise)."""
        self.apply({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": name, "labels": RESTRICTED if labels is None else labels}})
        return name

    def wait_for(self, what: str, check, timeout: float = 120, interval: float = 0.5):
        """Poll ``check()`` until it returns a truthy value (returned); AssertionError naming ``what``
        and the last value after ``timeout``."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")

    def events(self, namespace: str, involved: str | None = None) -> list[dict]:
        items = self.items("events", namespace=namespace)
        return [e for e in items if involved is None or e["involvedObject"]["name"] == involved]


def pods_of(kube: Kube, namespace: str, release: str) -> list[dict]:
    return [p for p in kube.items("pods", namespace=namespace, selector=f"app.kubernetes.io/instance={release}")
            if "helm.sh/hook" not in (p["metadata"].get("annotations") or {})]


def ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


