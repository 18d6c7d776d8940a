"""Upgrades, rollouts and drains on a full GPU pool, with the real Deployment, ReplicaSet and
disruption controllers and the Eviction API: they complete without deadlock and never go below
the PodDisruptionBudget."""

from __future__ import annotations

import json
import subprocess
import io
import tarfile
import threading

import pytest
from kubekit import ROOT, Kube, pods_of, ready
from releases import CI_DIR, RELEASE, install, provide_volumes, uninstall, values_path

# Both L4 nodes of the fleet hold one GPU each: two replicas on L4 fill that pool.
L4_POOL = {"gpu": {"products": ["NVIDIA-L4"]}, "replicaCount": 2}
L4_NODES = ["gpu-l4-a", "gpu-l4-b"]


def wait_pool_free(kube: Kube) -> None:
    """No pod of an earlier test still holds an L4 GPU (a namespace being deleted)."""
    def free():
        pods = json.loads(kube.kubectl("get", "pods", "-A", "-o", "json").stdout)["items"]
        return not [p for p in pods if p["spec"].get("nodeName") in L4_NODES]
    kube.wait_for("the L4 pool to be free", free, timeout=60)


class ReadyWatcher:
    """Samples the release's ready pods while an upgrade or drain runs; the lowest count seen."""

    def __init__(self, kube: Kube, namespace: str):
        self.kube, self.namespace = kube, namespace
        self.lowest: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                count = sum(ready(p) and not p["metadata"].get("deletionTimestamp")
                            for p in pods_of(self.kube, self.namespace, RELEASE))
            except (AssertionError, subprocess.SubprocessError, ValueError):
                continue
            self.lowest = count if self.lowest is None else min(self.lowest, count)
            self._stop.wait(0.2)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=10)


def template_hash(kube: Kube, namespace: str) -> str:
    dep = kube.get("deployment", RELEASE, namespace)
    rs = [r for r in kube.items("replicasets", namespace=namespace)
          if r["metadata"]["annotations"].get("deployment.kubernetes.io/revision")
          == dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"]]
    assert len(rs) == 1
    return rs[0]["metadata"]["labels"]["pod-template-hash"]


@pytest.fixture
def full_l4_pool(kube, namespace, tmp_path):
    wait_pool_free(kube)
    install(kube, namespace, ["-f", values_path(tmp_path, L4_POOL)])
    pods = pods_of(kube, namespace, RELEASE)
    assert sorted(p["spec"]["nodeName"] for p in pods) == L4_NODES  # every L4 GPU is taken
    try:
        yield namespace
    finally:
        for node in L4_NODES:
            kube.kubectl("uncordon", node, check=False)
        uninstall(kube, namespace)


def test_upgrade_that_changes_the_pod_template_completes_on_a_full_gpu_pool(kube, full_l4_pool, tmp_path):
    namespace = full_l4_pool
    before = template_hash(kube, namespace)
    changed = {**L4_POOL, "podAnnotations": {"rollout": "2"}}
    with ReadyWatcher(kube, namespace) as watch:
        result = kube.helm("upgrade", RELEASE, "helm/triton", "-n", namespace, "-f", values_path(tmp_path, changed),
                           "--wait", "--timeout", "60s", check=False)
    assert result.returncode == 0, f"helm upgrade deadlocked on the full pool:\n{result.stderr}"
    after = template_hash(kube, namespace)
    assert after != before
    pods = pods_of(kube, namespace, RELEASE)
    assert sorted(p["metadata"]["labels"]["pod-template-hash"] for p in pods) == [after, after]
    pdb = kube.get("pdb", RELEASE, namespace)
    floor = 2 - int(pdb["spec"]["maxUnavailable"])
    assert watch.lowest is not None and watch.lowest >= floor, (watch.lowest, floor)


def test_drain_evicts_within_the_disruption_budget(kube, full_l4_pool):
    namespace = full_l4_pool
    drained = kube.kubectl("drain", "gpu-l4-a", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s",
                           check=False)
    assert drained.returncode == 0, drained.stderr
    assert "evicting pod" in drained.stderr + drained.stdout
    # its replacement has no free L4 to go to, so the budget is spent: the second node's drain
    # is refused by the Eviction API (429 from the disruption budget) until the timeout
    blocked = kube.kubectl("drain", "gpu-l4-b", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=8s",
                           check=False)
    assert blocked.returncode != 0
    assert "disruption budget" in blocked.stderr
    running = [p for p in pods_of(kube, namespace, RELEASE) if p["spec"].get("nodeName") == "gpu-l4-b"]
    assert len(running) == 1 and ready(running[0])


def test_drain_completes_when_every_pod_is_unready(kube, namespace, tmp_path):
    # one bad model in poll mode with strict readiness makes every pod unready: the budget has no
    # healthy pod to spare, and only unhealthyPodEvictionPolicy: AlwaysAllow lets the drain finish
    wait_pool_free(kube)
    unready = {**L4_POOL, "podAnnotations": {"rehearsal.tritonctl.dev/ready": "false"}}
    provided = values_path(tmp_path, unready)
    try:
        provide_volumes(kube, namespace, ["-f", provided])
        kube.helm("install", RELEASE, "helm/triton", "-n", namespace, "-f", provided)
        kube.wait_for("two running, unready pods", lambda: [
            p for p in pods_of(kube, namespace, RELEASE)
            if p.get("status", {}).get("phase") == "Running" and not ready(p)][1:], timeout=60)
        drained = kube.kubectl("drain", "gpu-l4-a", "--ignore-daemonsets", "--delete-emptydir-data",
                               "--timeout=30s", check=False)
        assert drained.returncode == 0, drained.stderr
    finally:
        kube.kubectl("uncordon", "gpu-l4-a", check=False)
        uninstall(kube, namespace)


def chart_at_version(version: str, into) -> str:
    """The chart as released at ``version``: the newest commit whose Chart.yaml says so, from git."""
    log = subprocess.run(["git", "log", "--format=%H", "--", "helm/triton/Chart.yaml"], cwd=ROOT, text=True,
                         capture_output=True, check=True).stdout.split()
    for commit in log:
        text = subprocess.run(["git", "show", f"{commit}:helm/triton/Chart.yaml"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout
        if f"\nversion: {version}\n" in text:
            archive = subprocess.run(["git", "archive", "--format=tar", commit, "helm/triton"], cwd=ROOT,
                                     capture_output=True, check=True).stdout
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(into, filter="data")
            return str(into / "helm" / "triton")
    raise AssertionError(f"no commit of helm/triton/Chart.yaml has version {version}")


@pytest.mark.parametrize("scenario", ["defaults", "gpu", "keda", "nfs"])
def test_upgrade_from_the_last_released_chart(kube, namespace, tmp_path, scenario):
    old_chart = chart_at_version("2.1.0", tmp_path / "old")
    old_args = [] if scenario == "defaults" else ["-f", str(tmp_path / "old/helm/triton/ci" / f"{scenario}-values.yaml")]
    new_args = [] if scenario == "defaults" else ["-f", str(CI_DIR / f"{scenario}-values.yaml")]
    try:
        provide_volumes(kube, namespace, old_args, chart=old_chart)
        # 2.1.0's nfs scenario mounts an inline nfs volume, which restricted Pod Security refuses:
        # install it without --wait, the upgrade is what must reach Available
        wait = [] if scenario == "nfs" else ["--wait"]
        kube.helm("install", RELEASE, old_chart, "-n", namespace, *old_args, *wait, "--timeout", "60s")
        provide_volumes(kube, namespace, new_args)
        result = kube.helm("upgrade", RELEASE, "helm/triton", "-n", namespace, *new_args, "--wait",
                           "--timeout", "60s", check=False)
        assert result.returncode == 0, result.stderr
        status = json.loads(kube.helm("status", RELEASE, "-n", namespace, "-o", "json").stdout)
        assert status["info"]["status"] == "deployed" and status["version"] == 2
        chart_version = [line.split(":", 1)[1].strip() for line in (ROOT / "helm/triton/Chart.yaml").read_text().splitlines()
                         if line.startswith("version:")][0]
        listed = json.loads(kube.helm("list", "-n", namespace, "-o", "json").stdout)
        assert [r["chart"] for r in listed] == [f"triton-{chart_version}"]
        dep = kube.get("deployment", RELEASE, namespace)
        assert dep["status"].get("availableReplicas") == dep["spec"]["replicas"]
        # the admin key the upgrade created (restricted APIs) survives the next upgrade (lookup)
        secret = f"{RELEASE}-admin-key"
        key = kube.get("secret", secret, namespace)["data"]
        kube.helm("upgrade", RELEASE, "helm/triton", "-n", namespace, *new_args, "--wait", "--timeout", "60s")
        assert kube.get("secret", secret, namespace)["data"] == key
    finally:
        uninstall(kube, namespace)
