"""The rehearsal cluster's simulated nodes, managed by kwok.

Shaped like a managed GPU pool (GKE/EKS): GPU nodes advertise ``nvidia.com/gpu`` and carry the
labels of NVIDIA's device plugin and GPU feature discovery (``nvidia.com/gpu.product``,
``nvidia.com/gpu.count``, ``nvidia.com/gpu.present``) and the ``nvidia.com/gpu=present:NoSchedule``
taint GKE puts on GPU pools; one A100 node is partitioned with MIG's mixed strategy (one
``nvidia.com/mig-<profile>`` resource per profile, ``nvidia.com/gpu`` 0); two CPU nodes take
everything that tolerates no GPU taint. Zones alternate so topology spread has two domains.
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


def _node(name: str, zone: str, *, cpu: str = "8", memory: str = "32Gi", gpus: int = 0, product: str = "",
          mig: dict[str, int] | None = None, labels: dict[str, str] | None = None) -> dict:
    all_labels = {
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "rehearsal-1",
        "node.kubernetes.io/instance-type": "cpu-8" if not (gpus or mig) else f"gpu-{product.lower()}",
        "type": "kwok", **(labels or {}),
    }
    capacity = {"cpu": cpu, "memory": memory, "pods": "110", "ephemeral-storage": "100Gi"}
    taints = []
    if gpus or mig:
        all_labels.update({"nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": product,
                           "nvidia.com/gpu.count": str(gpus or 1), "nvidia.com/gpu.memory": "81920"
                           if product == A100 else "23034", "nvidia.com/cuda.driver.major": "570"})
        capacity["nvidia.com/gpu"] = str(gpus)
        taints.append(GPU_TAINT)
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
    """The fleet ``name`` (only ``default`` today): two one-L4 nodes and two nodes with two A100s,
    one of each per zone, one MIG-partitioned A100 node (mixed strategy) and two CPU nodes."""
    if name != "default":
        raise ValueError(f"unknown fleet {name!r}: the only one is 'default'")
    gke_l4 = {"cloud.google.com/gke-accelerator": "nvidia-l4", "cloud.google.com/gke-nodepool": "gpu-l4"}
    return [
        _node("gpu-l4-a", "rehearsal-1a", gpus=1, product=L4, labels=gke_l4),
        _node("gpu-l4-b", "rehearsal-1b", gpus=1, product=L4, labels=gke_l4),
        _node("gpu-a100-a", "rehearsal-1a", cpu="32", memory="256Gi", gpus=2, product=A100),
        _node("gpu-a100-b", "rehearsal-1b", cpu="32", memory="256Gi", gpus=2, product=A100),
        _node("gpu-a100-mig-b", "rehearsal-1b", cpu="32", memory="256Gi", gpus=0, product=A100,
              mig={"1g.10gb": 4, "2g.20gb": 1}),
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
