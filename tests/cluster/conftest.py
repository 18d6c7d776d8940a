"""Fixtures for the control-plane tests: one real Kubernetes control plane per session
(tritonctl.cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok's nodes),
built by `make test` through k8s/cluster/build.sh. Never skipped: a missing binary fails here."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# the chart suite's helpers (podkit: a Triton started with the chart's container args) too
sys.path[:0] = [str(HERE), str(HERE.parent / "chart"), str(HERE.parents[1] / "tools" / "chart")]

from kubekit import Kube  # noqa: E402
from tritonctl.cluster.controlplane import ControlPlane, Settings  # noqa: E402


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    plane = ControlPlane(Settings(state_dir=tmp_path_factory.mktemp("cluster") / "state"))
    info = plane.up(log=lambda *_: None)
    try:
        yield info
    finally:
        plane.down(log=lambda *_: None)


@pytest.fixture(scope="session")
def kube(cluster) -> Kube:
    return Kube(cluster)


@pytest.fixture
def namespace(kube, request):
    """A fresh namespace under the restricted Pod Security level, named after the test; deleted
    after it without waiting (the namespace controller finishes in the background: every test
    uninstalls its release with `helm uninstall --wait` first, so its pods and GPUs are gone)."""
    base = request.node.originalname.removeprefix("test_")[:30]
    param = request.node.callspec.id[:28] if hasattr(request.node, "callspec") else ""
    # unique per test: a namespace of an earlier test may still be terminating
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:6]
    name = f"{base}-{param}".lower().replace("_", "-")
    name = "".join(c for c in name if c.isalnum() or c == "-")[:56].strip("-") + f"-{digest}"  # at most 63
    kube.namespace(name)
    yield name
    kube.kubectl("delete", "namespace", name, "--wait=false", check=False)
