"""The rehearsal cluster's simulated nodes, managed by kwok.

Shaped like managed GPU pools: GPU nodes advertise ``nvidia.com/gpu`` and carry the labels of
NVIDIA's device plugin and GPU feature discovery (``nvidia.com/gpu.product``,
``nvidia.com/gpu.count``, ``nvidia.com/gpu.present``). The L4 and A100 nodes carry the
``nvidia.com/gpu=present:NoSchedule`` taint GKE puts on GPU pools (the L4 ones GKE's own pool
labels too); one A100 node is partitioned with MIG's mixed strategy (one
``nvidia.com/mig-<profile>`` resource per profile, ``nvidia.com/gpu`` 0); two CPU nodes take
everything that tolerates no GPU taint. Zones alternate so topology spread has two domains.

One GPU pool per other managed provider, so that docs/cloud.md's values (ci/eks-values.yaml,
ci/aks-values.yaml) schedule on what those providers label and taint:

- EKS: a managed node group of g5.xlarge (one A10G): ``eks.amazonaws.com/nodegroup``,
  ``eks.amazonaws.com/capacityType``, the instance type; EKS taints nothing itself, the
  ``nvidia.com/gpu=true:NoSchedule`` taint is the one its node-taint recipe has you set.
- AKS: a user node pool of Standard_NC24ads_A100_v4 (one A100 80GB PCIe):
  ``kubernetes.azure.com/agentpool`` (and the legacy ``agentpool``),
  ``kubernetes.azure.com/accelerator: nvidia`` (and the legacy ``accelerator: nvidia``); AKS taints
  no GPU node itself, the ``sku=gpu:NoSchedule`` taint is the one its GPU guide has you set. No
  ``nvidia.com/gpu`` taint there, so only pods that tolerate ``sku`` land on it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

STAGES = Path(__file__).with_name("kwok-stages.yaml")
MANAGED_ANNOTATION = "kwok.x-k8s.io/node"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
L4 = "NVIDIA-L4"
A100 = "NVIDIA-A100-SXM4-80GB"
A10G = "NVIDIA-A10G"
A100_PCIE = "NVIDIA-A100-80GB-PCIe"
# the taints each provider's own GPU guide has you put on a GPU pool (see the module docstring)
EKS_GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
AKS_GPU_TAINT = {"key": "sku", "value": "gpu", "effect": "NoSchedule"}
GPU_MEMORY_MIB = {A100: "81920", A100_PCIE: "81920", A10G: "23028", L4: "23034"}


def _node(name: str, zone: str, *, cpu: str = "8", memory: str = "32Gi", gpus: int = 0, product: str = "",
          mig: dict[str, int] | None = None, labels: dict[str, str] | None = None,
          taints: list[dict] | None = None) -> dict:
    all_labels = {
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "rehearsal-1",
        "node.kubernetes.io/instance-type": "cpu-8" if not (gpus or mig) else f"gpu-{product.lower()}",
        "type": "kwok", **(labels or {}),
    }
    capacity = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"}
    if taints is None:
        taints = [GPU_TAINT] if gpus or mig else []
    if gpus or mig:
        all_labels.update({"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": product,
                           "nvidia.com/gpu.count": str(gpus or 1), "nvidia.com/gpu.memory": GPU_MEMORY_MIB[product],
                           "nvidia.com/cuda.driver.major": "570"})
        capacity["nvidia.com/gpu"] = str(gpus)
    if mig:
        all_labels.update({"nvidia.com/mig.strategy": "mixed", "nvidia.com/mig.capable": "true"})
        for profile, count in mig.items():
            capacity[f"nvidia.com/mig-{profile}"] = str(count)
            all_labels[f"nvidia.com/mig-{profile}.count"] = str(count)
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": all_labels, "annotations": {MANAGED_ANNOTATION: "fake"}},
        "spec": {"taints": taints},
        "status": {"capacity": capacity, "allocatable": dict(capacity)},
    }


def nodes(name: str = "default") -> list[dict]:
    """The fleet ``name`` (only ``default`` today): two one-L4 nodes (a GKE pool) and two nodes with
    two A100s, one of each per zone, one MIG-partitioned A100 node (mixed strategy), an EKS node
    group and an AKS node pool of two one-GPU nodes each (one per zone) and two CPU nodes."""
    if name != "default":
        raise ValueError(f"unknown fleet {name!r}: the only one is 'default'")
    gke_l4 = {"cloud.google.com/gke-accelerator": "nvidia-l4", "cloud.google.com/gke-nodepool": "gpu-l4",
              "node.kubernetes.io/instance-type": "g2-standard-8"}
    eks_a10g = {"eks.amazonaws.com/nodegroup": "gpu-a10g", "eks.amazonaws.com/capacityType": "ON_DEMAND",
                "node.kubernetes.io/instance-type": "g5.xlarge"}
    aks_a100 = {"kubernetes.azure.com/agentpool": "gpunp", "agentpool": "gpunp",
                "kubernetes.azure.com/accelerator": "nvidia", "accelerator": "nvidia",
                "node.kubernetes.io/instance-type": "Standard_NC24ads_A100_v4"}
    return [
        _node("gpu-l4-a", "rehearsal-1a", gpus=1, product=L4, labels=gke_l4),
        _node("gpu-l4-b", "rehearsal-1b", gpus=1, product=L4, labels=gke_l4),
        _node("gpu-a100-a", "rehearsal-1a", cpu="32", memory="256Gi", gpus=2, product=A100),
        _node("gpu-a100-b", "rehearsal-1b", cpu="32", memory="256Gi", gpus=2, product=A100),
        _node("gpu-a100-mig-b", "rehearsal-1b", cpu="32", memory="256Gi", gpus=0, product=A100,
              mig={"1g.10gb": 4, "2g.20gb": 1}),
        _node("eks-gpu-a10g-a", "rehearsal-1a", cpu="4", memory="16Gi", gpus=1, product=A10G, labels=eks_a10g,
              taints=[EKS_GPU_TAINT]),
        _node("eks-gpu-a10g-b", "rehearsal-1b", cpu="4", memory="16Gi", gpus=1, product=A10G, labels=eks_a10g,
              taints=[EKS_GPU_TAINT]),
        _node("aks-gpunp-a", "rehearsal-1a", cpu="24", memory="220Gi", gpus=1, product=A100_PCIE, labels=aks_a100,
              taints=[AKS_GPU_TAINT]),
        _node("aks-gpunp-b", "rehearsal-1b", cpu="24", memory="220Gi", gpus=1, product=A100_PCIE, labels=aks_a100,
              taints=[AKS_GPU_TAINT]),
        _node("cpu-a", "rehearsal-1a"),
        _node("cpu-b", "rehearsal-1b"),
    ]


def kubectl(info, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the built kubectl against the cluster ``info`` describes."""
    result = subprocess.run([str(Path(info.bin_dir) / "kubectl"), *args], input=input, text=True,
                            capture_output=True, env=info.env())
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args[:3])} failed: {result.stderr.strip()}")
    return result


def create(info, name: str = "default") -> None:
    """Create (or update) the fleet's Node objects (kwok picks them up by their annotation) and what a
    GPU Operator installs that the API server checks (the ``nvidia`` RuntimeClass)."""
    # the GPU Operator's RuntimeClass: pods naming runtimeClassName: nvidia are refused without it
    runtime_class = {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass", "metadata": {"name": "nvidia"},
                     "handler": "nvidia"}
    items = {"apiVersion": "v1", "kind": "List", "items": [*nodes(name), runtime_class]}
    result = kubectl(info, "apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(items),
                     check=False)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl apply of the fleet's nodes failed: {result.stderr.strip()}")
    # a created Node keeps the status it was created with only when the status subresource
    # writes it: set capacity/allocatable there, as a kubelet would on registration
    for node in nodes(name):
        patch = json.dumps({"status": node["status"]})
        result = kubectl(info, "patch", "node", node["metadata"]["name"], "--subresource=status", "--type=merge",
                         "-p", patch, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"kubectl patch of node {node['metadata']['name']}'s status failed: "
                               f"{result.stderr.strip()}")


def all_ready(info, name: str = "default") -> bool:
    result = kubectl(info, "get", "nodes", "-o", "json", check=False)
    if result.returncode != 0:
        return False
    ready = {n["metadata"]["name"] for n in json.loads(result.stdout)["items"]
             if any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))}
    return {n["metadata"]["name"] for n in nodes(name)} <= ready
