"""tritonctl cluster up|down|status: the rehearsal Kubernetes control plane on the loopback
(tritonctl.cluster; docs/cluster-rehearsal.md). `make cluster-up` / `make cluster-down` call it."""

from __future__ import annotations

import argparse
import os

HELP = "start or stop a local Kubernetes control plane with simulated GPU nodes, to rehearse helm installs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["up", "down", "status"])
    p.add_argument("--state-dir", default=os.environ.get("CLUSTER_STATE", ".cluster"),
                   help="where the cluster keeps its PKI, etcd data, logs and kubeconfig (default %(default)s/)")
    p.add_argument("--hpa-sync-period", default="5s", help="kube-controller-manager's HPA sync period "
                   "(Kubernetes' default 15s; shortened so the HPA acts within seconds)")
    p.add_argument("--hpa-downscale-stabilization", default="30s",
                   help="kube-controller-manager's HPA downscale stabilisation (Kubernetes' default 5m)")


def run(args) -> int:
    from pathlib import Path

    from tritonctl.cluster.controlplane import ClusterError, ControlPlane, Settings
    from tritonctl.errors import TritonctlError

    plane = ControlPlane(Settings(state_dir=Path(args.state_dir), hpa_sync_period=args.hpa_sync_period,
                                  hpa_downscale_stabilization=args.hpa_downscale_stabilization))
    if args.action == "up":
        info = plane.up()
        print(f"export KUBECONFIG={info.kubeconfig} PATH={info.bin_dir}:$PATH")
        return 0
    if args.action == "down":
        plane.down()
        return 0
    info = plane.info
    if info is None:
        raise ClusterError(f"no cluster in {plane.state}: start one with `tritonctl cluster up` (or make cluster-up)")
    running = info.running()
    for name, alive in running.items():
        print(f"{name:<24} {'running' if alive else 'STOPPED'} (pid {info.pids[name]})")
    print(f"server     {info.server}\nkubeconfig {info.kubeconfig}")
    if not all(running.values()):
        raise TritonctlError(f"some components of the cluster in {plane.state} stopped: their logs are in "
                             f"{plane.state / 'logs'}; restart with `tritonctl cluster up`")
    return 0
