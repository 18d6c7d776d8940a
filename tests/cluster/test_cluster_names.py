"""The names the API server gives the release's pods against every selector, PromQL `pod=~`
regex and label the chart writes, for a short release name and one long enough that the API
server truncates the pods' generated names (Helm allows 53 characters)."""

from __future__ import annotations

import re

import pytest
from kubekit import Kube, pods_of
from releases import install, manifest_objects, uninstall, values_path

LONG = "rehearsal-inference-platform-production-eu-west-1ab"  # 51 characters, no "triton" in it
VALUES = {
    "replicaCount": 2, "gpu": {"enabled": False},
    "modelRepository": {"source": "s3", "s3": {"url": "s3://models/repository"}},
    "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    "autoscaling": {"enabled": True, "metricsSource": "prometheus-adapter", "minReplicas": 2},
}


def selector_query(match_labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


def pod_regexes(objects: list[dict]) -> list[str]:
    """Every `pod=~"..."` regex in the rendered PrometheusRule's expressions."""
    rule = next(o for o in objects if o["kind"] == "PrometheusRule")
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    return [m for e in exprs for m in re.findall(r'pod=~"([^"]+)"', e)]


@pytest.mark.parametrize("release", ["triton", LONG])
def test_every_selector_and_pod_regex_matches_the_names_the_api_server_gave(kube: Kube, namespace, tmp_path, release):
    try:
        install(kube, namespace, ["-f", values_path(tmp_path, VALUES)], release=release)
        objects = manifest_objects(kube, namespace, release)
        pods = pods_of(kube, namespace, release)
        names = sorted(p["metadata"]["name"] for p in pods)
        assert len(names) == 2
        if release == LONG:  # the API server did truncate: the hash did not survive in full
            dep = next(o for o in objects if o["kind"] == "Deployment")["metadata"]["name"]
            assert all(len(n) == 63 and n.startswith(dep[:58]) for n in names), names

        # PromQL: anchored at both ends, like Python's fullmatch
        regexes = pod_regexes(objects)
        assert regexes, "the PrometheusRule selects no pod by name"
        unmatched = [(rx, n) for rx in regexes for n in names if not re.fullmatch(rx, n)]
        assert not unmatched, unmatched

        def by_kind(kind):
            return [o for o in objects if o["kind"] == kind]

        # the Services' selectors reach the pods: the EndpointSlice controller lists both
        # (the controller adds a pod some time after it turns Ready: wait for its slices to catch up)
        for svc in by_kind("Service"):
            def targets(svc=svc):
                slices = kube.items("endpointslices", namespace, f"kubernetes.io/service-name={svc['metadata']['name']}")
                return sorted(e["targetRef"]["name"] for s in slices for e in (s.get("endpoints") or []))
            kube.wait_for(f"{svc['metadata']['name']}'s EndpointSlices to list {names}", lambda: targets() == names,
                          timeout=30)
        # the disruption controller counts both pods under the budget
        pdb = by_kind("PodDisruptionBudget")[0]
        live = kube.wait_for("the PDB's status", lambda: kube.get("pdb", pdb["metadata"]["name"], namespace)
                             .get("status", {}).get("expectedPods"))
        assert live == 2
        # the NetworkPolicy and the ServiceMonitor select what they are meant to
        policy = by_kind("NetworkPolicy")[0]
        selected = kube.items("pods", namespace, selector_query(policy["spec"]["podSelector"]["matchLabels"]))
        assert sorted(p["metadata"]["name"] for p in selected) == names
        monitor = by_kind("ServiceMonitor")[0]
        services = kube.items("services", namespace, selector_query(monitor["spec"]["selector"]["matchLabels"]))
        ports = [p["name"] for s in services for p in s["spec"]["ports"]]
        assert ports.count("metrics") == 1, ports  # one scrape per pod, not one per Service
        # the HPA names the Deployment the API server stored
        hpa = kube.get("hpa", by_kind("HorizontalPodAutoscaler")[0]["metadata"]["name"], namespace)
        kube.get("deployment", hpa["spec"]["scaleTargetRef"]["name"], namespace)
    finally:
        uninstall(kube, namespace, release)


def test_a_name_longer_than_helm_allows_is_refused_by_helm(kube: Kube, namespace):
    result = kube.helm("install", "x" * 54, "helm/triton", "-n", namespace, "--dry-run=server", check=False)
    assert result.returncode != 0 and "release name" in result.stderr.lower(), result.stderr
