"""Installing the chart on the rehearsal cluster as a user would (the Helm CLI), with what a real
cluster already has for each scenario: a PersistentVolume for each claim the release mounts
(static provisioning: the cluster has no storage driver), the claim itself when the values name
an existing one. Failures carry the API server's own reasons (FailedCreate, FailedScheduling)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from kubekit import CHART, Kube

CI_DIR = CHART / "ci"
RELEASE = "triton"
SCENARIOS = ["defaults", *sorted(p.name.removesuffix("-values.yaml") for p in CI_DIR.glob("*-values.yaml"))]


def scenario_args(scenario: str) -> list[str]:
    return [] if scenario == "defaults" else ["-f", str(CI_DIR / f"{scenario}-values.yaml")]


def template(kube: Kube, namespace: str, args: list[str], release: str = RELEASE, chart=CHART) -> list[dict]:
    out = kube.helm("template", release, str(chart), "-n", namespace, *args).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def provide_volumes(kube: Kube, namespace: str, args: list[str], release: str = RELEASE, chart=CHART) -> list[str]:
    """Create a PersistentVolume pre-bound to each claim the release's pods mount (and the claim,
    when it is an existing one the chart does not create); returns the claim names."""
    objs = template(kube, namespace, args, release, chart)
    rendered = {o["metadata"]["name"]: o for o in objs if o["kind"] == "PersistentVolumeClaim"}
    mounted = set()
    for o in objs:
        spec = o.get("spec", {}).get("template", {}).get("spec", {}) if o["kind"] in ("Deployment", "Job") else {}
        mounted |= {v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes", [])
                    if "persistentVolumeClaim" in v}
    for claim in sorted(mounted | set(rendered)):
        pvc = rendered.get(claim)
        if pvc is None:  # an existing claim named in the values: a user made it before installing
            pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": claim, "namespace": namespace},
                   "spec": {"accessModes": ["ReadOnlyMany"], "storageClassName": "",
                            "resources": {"requests": {"storage": "20Gi"}}}}
            kube.apply(pvc)
        if "nfs" in (pvc["spec"].get("volumeName") or ""):
            continue  # the chart's own NFS PersistentVolume binds it
        kube.apply({"apiVersion": "v1", "kind": "PersistentVolume",
                    "metadata": {"name": f"{namespace}-{claim}", "labels": {"rehearsal/namespace": namespace}},
                    "spec": {"capacity": {"storage": pvc["spec"]["resources"]["requests"]["storage"]},
                             "accessModes": pvc["spec"]["accessModes"],
                             "storageClassName": pvc["spec"].get("storageClassName") or "",
                             "persistentVolumeReclaimPolicy": "Delete",
                             "claimRef": {"namespace": namespace, "name": claim},
                             "hostPath": {"path": f"/rehearsal/{namespace}/{claim}"}}})
    return sorted(mounted | set(rendered))


def why_not_ready(kube: Kube, namespace: str) -> str:
    """The warnings the controllers and the scheduler recorded in ``namespace`` (the API server's
    refusals of pods appear as the ReplicaSet's FailedCreate events)."""
    events = [e for e in kube.events(namespace) if e.get("type") == "Warning"]
    return "\n".join(f"  {e['involvedObject']['kind']}/{e['involvedObject']['name']}: {e['reason']}: {e['message']}"
                     for e in events) or "  (no warning events)"


def install(kube: Kube, namespace: str, args: list[str], release: str = RELEASE, timeout: str = "90s",
            extra: tuple[str, ...] = ()) -> dict:
    """``helm install --wait`` (volumes provided first); the release's ``helm status`` as JSON.
    AssertionError with the namespace's warning events when it does not become ready."""
    provide_volumes(kube, namespace, args, release)
    result = kube.helm("install", release, str(CHART), "-n", namespace, *args, "--wait", "--timeout", timeout,
                       *extra, check=False)
    if result.returncode != 0:
        raise AssertionError(f"helm install {' '.join(args)} failed:\n{result.stderr.strip()}\n"
                             f"warnings in {namespace}:\n{why_not_ready(kube, namespace)}")
    return json.loads(kube.helm("status", release, "-n", namespace, "-o", "json").stdout)


def uninstall(kube: Kube, namespace: str, release: str = RELEASE) -> None:
    """Uninstall and wait until the release's pods are gone (their GPUs are free again)."""
    kube.helm("uninstall", release, "-n", namespace, "--wait", "--timeout", "60s", check=False)
    # the garbage collector removes the ReplicaSets' pods after the Deployment: wait for them
    kube.wait_for(f"the pods of {release} in {namespace} to go",
                  lambda: not kube.items("pods", namespace, f"app.kubernetes.io/instance={release}"), timeout=60)
    kube.kubectl("delete", "pv", "-l", f"rehearsal/namespace={namespace}", "--wait=false", check=False)


def manifest_objects(kube: Kube, namespace: str, release: str = RELEASE) -> list[dict]:
    return [d for d in yaml.safe_load_all(kube.helm("get", "manifest", release, "-n", namespace).stdout) if d]


def values_path(tmp_path: Path, values: dict) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)
