"""The provider values of docs/cloud.md (ci/eks-values.yaml, ci/gke-values.yaml, ci/aks-values.yaml)
on the rehearsal fleet's pools shaped like each provider's (tritonctl.cluster.fleet): every pod
lands on a node carrying the GPU labels that provider puts on its GPU nodes, the ServiceAccount
carries the provider's workload-identity annotation, and the AKS pool's sku=gpu taint keeps away a
pod that does not tolerate it.

The labels below are the providers' own (EKS managed node groups: eks.amazonaws.com/nodegroup;
GKE: cloud.google.com/gke-accelerator; AKS: kubernetes.azure.com/accelerator=nvidia, which
replaced accelerator=nvidia), not read from the values files, so a values file that selects
another pool fails here."""

from __future__ import annotations

import pytest
import yaml
from kubekit import Kube, pods_of
from releases import CI_DIR, RELEASE, install, provide_volumes, uninstall, values_path
from tritonctl.cluster import fleet

NODES = {n["metadata"]["name"]: n for n in fleet.nodes()}

# provider -> (a label its GPU nodes carry: key, value or None for any value;
#              the ServiceAccount annotation its workload identity reads)
PROVIDERS = {
    "eks": (("eks.amazonaws.com/nodegroup", None), "eks.amazonaws.com/role-arn"),
    "gke": (("cloud.google.com/gke-accelerator", None), "iam.gke.io/gcp-service-account"),
    "aks": (("kubernetes.azure.com/accelerator", "nvidia"), "azure.workload.identity/client-id"),
}


def provider_nodes(key: str, value: str | None) -> set[str]:
    return {name for name, node in NODES.items()
            if key in node["metadata"]["labels"] and value in (None, node["metadata"]["labels"][key])}


@pytest.fixture
def release(kube, namespace):
    yield namespace
    uninstall(kube, namespace)


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_provider_values_land_every_pod_on_that_providers_gpu_pool(kube: Kube, release, provider):
    (key, value), annotation = PROVIDERS[provider]
    pool = provider_nodes(key, value)
    assert len(pool) >= 2, f"the fleet has no {provider} GPU pool labelled {key}"
    install(kube, release, ["-f", str(CI_DIR / f"{provider}-values.yaml"), "--set", "replicaCount=2"])
    pods = pods_of(kube, release, RELEASE)
    placed = [p["spec"].get("nodeName") for p in pods]
    assert len(placed) == 2 and set(placed) <= pool, (placed, sorted(pool))
    # the identity the pods run as is the one the provider's webhook or metadata server maps
    account = kube.get("serviceaccount", pods[0]["spec"]["serviceAccountName"], release)
    assert (account["metadata"].get("annotations") or {}).get(annotation), account["metadata"]
    if provider == "aks":  # the Workload ID webhook mutates only pods labelled for it
        assert all(p["metadata"]["labels"].get("azure.workload.identity/use") == "true" for p in pods)


def test_without_the_sku_toleration_the_aks_pool_refuses_the_pod(kube: Kube, release, tmp_path):
    values = yaml.safe_load((CI_DIR / "aks-values.yaml").read_text())
    values["tolerations"] = []
    args = ["-f", values_path(tmp_path, values)]
    provide_volumes(kube, release, args)
    kube.helm("install", RELEASE, "helm/triton", "-n", release, *args)

    def reason():
        events = [e for e in kube.events(release) if e["reason"] == "FailedScheduling"]
        return events[-1]["message"] if events else ""
    message = kube.wait_for("the scheduler's FailedScheduling event", reason, timeout=30)
    # the scheduler counts, without naming them, the nodes whose taint the pod does not tolerate: the
    # selector leaves only the AKS pool, and its only taint is sku=gpu:NoSchedule
    pool = provider_nodes(*PROVIDERS["aks"][0])
    assert {t["key"] for n in pool for t in NODES[n]["spec"]["taints"]} == {"sku"}
    assert f"{len(pool)} node(s) had untolerated taint" in message, message
    assert not [p["spec"].get("nodeName") for p in pods_of(kube, release, RELEASE) if p["spec"].get("nodeName")]
