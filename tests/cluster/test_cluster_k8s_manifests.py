"""Everything under k8s/ that is applied with kubectl (the plain Triton manifests, in-cluster
Locust through its kustomization) is accepted by the API server (`--dry-run=server`: admission
and validation run, nothing is stored), with no Pod Security warning under the restricted level."""

from __future__ import annotations

import pytest
import yaml
from kubekit import ROOT

K8S = ROOT / "k8s"


@pytest.fixture(scope="module")
def triton_namespace(kube):
    # the manifests name their namespace, `triton`, as k8s/README.md tells users to create it
    kube.namespace("triton")
    yield "triton"
    kube.kubectl("delete", "namespace", "triton", "--timeout=60s", check=False)


def applied(output: str) -> list[str]:
    return sorted(line.split()[0] for line in output.splitlines() if line.endswith("(server dry run)"))


def test_the_plain_triton_manifests_are_admitted(kube, triton_namespace):
    files = sorted((K8S / "triton").glob("*.yaml"))
    expected = sorted(f"{d['kind'].lower()}" for f in files for d in yaml.safe_load_all(f.read_text()) if d)
    result = kube.kubectl("apply", "--dry-run=server", "-f", str(K8S / "triton"))
    assert [name.split("/")[0].split(".")[0] for name in applied(result.stdout)] == expected
    assert "PodSecurity" not in result.stderr, result.stderr


def test_in_cluster_locust_is_admitted(kube, triton_namespace):
    result = kube.kubectl("apply", "--dry-run=server", "-k", str(K8S / "locust"))
    kinds = [name.split("/")[0].split(".")[0] for name in applied(result.stdout)]
    assert sorted(kinds) == ["configmap", "deployment", "deployment", "service"], result.stdout
    assert "PodSecurity" not in result.stderr, result.stderr
