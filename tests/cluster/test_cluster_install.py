"""`helm install --wait` of the defaults and of every ci/*-values.yaml scenario on the real
control plane, each into its own namespace under the restricted Pod Security level: the API
server admits every object (and the ReplicaSet's pods), the Deployment becomes Available on the
simulated nodes, and `helm status` says deployed."""

from __future__ import annotations

import pytest
from releases import RELEASE, SCENARIOS, install, manifest_objects, scenario_args, uninstall


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_installs_and_becomes_available(kube, namespace, scenario):
    args = scenario_args(scenario)
    try:
        status = install(kube, namespace, args)
        assert status["info"]["status"] == "deployed"
        objects = manifest_objects(kube, namespace)
        deployment = next(o for o in objects if o["kind"] == "Deployment")
        live = kube.get("deployment", deployment["metadata"]["name"], namespace)
        conditions = {c["type"]: c["status"] for c in live["status"]["conditions"]}
        assert conditions.get("Available") == "True", live["status"]
        assert live["status"].get("availableReplicas") == live["spec"]["replicas"]
        # every object the chart rendered was stored by the API server as rendered (kind and name)
        for obj in objects:
            kind = f"{obj['kind'].lower()}.{obj['apiVersion'].split('/')[0]}" if "/" in obj["apiVersion"] \
                else obj["kind"].lower()
            ns = [] if obj["kind"] in ("PersistentVolume", "ClusterRole", "ClusterRoleBinding") else ["-n", namespace]
            kube.kubectl("get", kind, obj["metadata"]["name"], *ns)
    finally:
        uninstall(kube, namespace, RELEASE)
