"""The stand-in for the Triton container of pods kwok runs (kwok runs no containers): the only
piece of the autoscaling loop that is not the real component.

For each Running pod of a release, as the API server reports it, one local `tritonserver` is
started with that pod's own container args and env (tests/chart/podkit: ports and repository
replaced, `$(VAR)` expanded, Secrets read from the API server), serving a repository the test
gives; it is stopped when the pod goes. Prometheus finds the servers through a file-based
service discovery file this module writes, one target per pod with the labels Kubernetes' pod
discovery would give it (`__meta_kubernetes_*`), so the chart's own relabelings produce the
`namespace`, `pod` and release labels. The pods' fake addresses are never dialled: every target
is 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import podkit
import promkit
from kubekit import Kube, pods_of


@dataclass
class Server:
    pod: str
    triton: podkit.ChartTriton

    @property
    def grpc(self) -> str:
        return self.triton.grpc

    @property
    def http(self) -> str:
        return self.triton.http


def as_deployment(pod: dict) -> dict:
    """A pod wrapped as the Deployment-shaped object podkit and promkit read."""
    return {"kind": "Deployment", "metadata": {"name": pod["metadata"]["name"],
                                               "namespace": pod["metadata"]["namespace"]},
            "spec": {"template": {"metadata": pod["metadata"], "spec": pod["spec"]}}}


class StandIn:
    """Keeps one local Triton per Running pod of ``release`` in ``namespace`` (``sync``, or a
    background loop with ``start``/``stop``), and the SD file ``sd_file`` current."""

    def __init__(self, kube: Kube, namespace: str, release: str, repository: Path, workdir: Path):
        self.kube, self.namespace, self.release = kube, namespace, release
        self.repository, self.workdir = repository, Path(workdir)
        self.sd_file = self.workdir / "targets.json"
        self.servers: dict[str, Server] = {}
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_targets([])

    def sync(self) -> None:
        pods = {p["metadata"]["name"]: p for p in pods_of(self.kube, self.namespace, self.release)
                if p.get("status", {}).get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")}
        for name in sorted(set(pods) - set(self.servers)):
            secrets = self.kube.items("secrets", namespace=self.namespace)
            triton = podkit.start_chart_triton([as_deployment(pods[name]), *secrets], self.repository,
                                               self.workdir / name, sandbox=False)
            with self.lock:
                self.servers[name] = Server(name, triton)
        for name in sorted(set(self.servers) - set(pods)):
            with self.lock:
                server = self.servers.pop(name)
            server.triton.stop(timeout=10)
        self._write_targets([pods[n] for n in sorted(self.servers)])

    def _write_targets(self, pods: list[dict]) -> None:
        targets = [{"targets": [f"127.0.0.1:{self.servers[p['metadata']['name']].triton.ports['metrics']}"],
                    "labels": promkit.pod_sd_labels(as_deployment(p), p["metadata"]["name"], p["spec"]["nodeName"])}
                   for p in pods]
        tmp = self.sd_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(targets))
        tmp.replace(self.sd_file)  # Prometheus never reads half a file

    def ready_servers(self) -> list[Server]:
        with self.lock:
            return list(self.servers.values())

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync()
            except BaseException as exc:  # noqa: BLE001 - pytest.fail too: reported through .errors
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(1)

    def start(self) -> StandIn:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=60)
        for server in list(self.servers.values()):
            server.triton.stop(timeout=10)
        self.servers.clear()
