"""Where the real kube-scheduler puts the chart's pods on the simulated fleet (tritonctl.cluster.
fleet): only onto nodes with a free GPU of the requested kind, honouring the GPU taint's
toleration, the product affinity and the zone spread; a pod that cannot fit stays Pending and the
scheduler says why; a MIG profile lands only on the MIG node."""

from __future__ import annotations

import pytest
from kubekit import Kube, pods_of
from releases import RELEASE, install, provide_volumes, uninstall, values_path
from tritonctl.cluster import fleet

NODES = {n["metadata"]["name"]: n for n in fleet.nodes()}
# a repository that needs no volume, so that only GPUs, taints and labels decide placement
NO_VOLUME = {"modelRepository": {"source": "s3", "s3": {"url": "s3://models/repository"}}}


def gpu_capacity(node: str, resource: str = "nvidia.com/gpu") -> int:
    return int(NODES[node]["status"]["capacity"].get(resource, "0"))


def placements(kube: Kube, namespace: str) -> list[str | None]:
    return sorted((p["spec"].get("nodeName") or "") for p in pods_of(kube, namespace, RELEASE))


def scheduler_reason(kube: Kube, namespace: str) -> str:
    def pending_reason():
        events = [e for e in kube.events(namespace) if e["reason"] == "FailedScheduling"]
        return events[-1]["message"] if events else ""
    return kube.wait_for("the scheduler's FailedScheduling event", pending_reason, timeout=30)


def install_unwaited(kube: Kube, namespace: str, tmp_path, values: dict) -> None:
    args = ["-f", values_path(tmp_path, {**NO_VOLUME, **values})]
    provide_volumes(kube, namespace, args)
    kube.helm("install", RELEASE, "helm/triton", "-n", namespace, *args)


@pytest.fixture
def release(kube, namespace):
    yield namespace
    uninstall(kube, namespace)


def test_default_gpu_pods_land_only_on_gpu_nodes_through_the_taint(kube, release, tmp_path):
    install(kube, release, ["-f", values_path(tmp_path, {**NO_VOLUME, "replicaCount": 3})])
    nodes = placements(kube, release)
    assert len(nodes) == 3
    assert all(gpu_capacity(n) >= 1 for n in nodes), nodes  # never a CPU or MIG-only node


def test_gpu_products_select_the_product_and_a_replica_beyond_the_free_gpus_stays_pending(kube, release, tmp_path):
    l4 = [n for n in NODES if NODES[n]["metadata"]["labels"].get("nvidia.com/gpu.product") == fleet.L4]
    install_unwaited(kube, release, tmp_path, {"replicaCount": len(l4) + 1, "gpu": {"products": [fleet.L4]}})
    kube.wait_for("one pod per L4 node", lambda: len([n for n in placements(kube, release) if n]) == len(l4))
    nodes = placements(kube, release)
    assert sorted(n for n in nodes if n) == sorted(l4)
    assert nodes.count("") == 1  # the extra replica has no free L4
    reason = scheduler_reason(kube, release)
    assert "Insufficient nvidia.com/gpu" in reason, reason


def test_more_gpus_than_any_node_has_stays_pending_with_the_reason(kube, release, tmp_path):
    most = max(gpu_capacity(n) for n in NODES)
    install_unwaited(kube, release, tmp_path, {"gpu": {"count": most + 1}})
    reason = scheduler_reason(kube, release)
    assert "Insufficient nvidia.com/gpu" in reason, reason
    assert placements(kube, release) == [""]


def test_without_the_toleration_the_gpu_taint_keeps_the_pod_off_gpu_nodes(kube, release, tmp_path):
    install_unwaited(kube, release, tmp_path, {"gpu": {"toleration": False}})
    reason = scheduler_reason(kube, release)
    assert "untolerated taint" in reason and "nvidia.com/gpu" in reason, reason


def test_a_mig_profile_schedules_only_onto_the_mig_node(kube, release, tmp_path):
    mig_nodes = [n for n in NODES if gpu_capacity(n, "nvidia.com/mig-1g.10gb")]
    assert mig_nodes == ["gpu-a100-mig-b"]
    install(kube, release, ["-f", values_path(tmp_path, {
        **NO_VOLUME, "replicaCount": 2, "gpu": {"count": 0, "mig": {"profile": "1g.10gb"}}})])
    assert placements(kube, release) == mig_nodes * 2


def test_zone_spread_puts_replicas_in_both_zones(kube, release, tmp_path):
    install(kube, release, ["-f", values_path(tmp_path, {
        **NO_VOLUME, "replicaCount": 2, "gpu": {"products": [fleet.A100]},
        "topologySpread": {"whenUnsatisfiable": "DoNotSchedule"}})])
    zones = sorted(NODES[n]["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in placements(kube, release))
    assert zones == ["rehearsal-1a", "rehearsal-1b"]


def test_cpu_only_pods_land_on_cpu_nodes(kube, release, tmp_path):
    install(kube, release, ["-f", values_path(tmp_path, {**NO_VOLUME, "replicaCount": 2, "gpu": {"enabled": False}})])
    nodes = placements(kube, release)
    assert len(nodes) == 2 and not [n for n in nodes if gpu_capacity(n) or "mig" in n], nodes
