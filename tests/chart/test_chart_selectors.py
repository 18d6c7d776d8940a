"""Selectors against labels, computed from the rendered manifests: in every scenario each Service,
ServiceMonitor, PodMonitor, PodDisruptionBudget, NetworkPolicy and autoscaler target selects the
Triton server pods and nothing else (not the `helm test` pod, not any other pod the chart makes)."""

from __future__ import annotations

import pytest

from label_selectors import label_selector_matches, pod_templates, service_selector_matches
from manifest_lookup import SCENARIOS, find

ALL = ["defaults", *SCENARIOS]


def split_pods(objs):
    """(server pods, other pods) as (description, labels) pairs."""
    server_name = find(objs, "Deployment")["metadata"]["name"]
    pods = [(d, labels) for d, labels, _ in pod_templates(objs)]
    server = [p for p in pods if p[0] == f"Deployment/{server_name}"]
    others = [p for p in pods if p[0] != f"Deployment/{server_name}"]
    assert len(server) == 1
    return server, others


@pytest.fixture(params=ALL)
def scenario(request, render, scenario_values):
    objs = render(scenario_values[request.param])
    server, others = split_pods(objs)
    return objs, server[0][1], others


def test_every_scenario_should_render_a_pod_that_is_not_a_server_pod(render, scenario_values):
    # the selector checks below are only meaningful while another pod exists to be left out
    assert split_pods(render({}))[1], "the helm test pod is gone: the selector tests prove nothing"


# Each test below loops over the objects of one kind in one scenario, and most kinds are optional
# (off by default): this is what keeps every loop from being empty in all scenarios at once.
CHECKED = ("Service", "ServiceMonitor", "NetworkPolicy", "PodMonitor", "PodDisruptionBudget", "Deployment",
           "HorizontalPodAutoscaler", "ScaledObject")


def test_the_scenarios_should_render_every_kind_whose_selector_these_tests_check(render, scenario_values):
    rendered = [render(scenario_values[name]) for name in ALL]
    kinds = {o["kind"] for objs in rendered for o in objs}
    assert sorted(set(CHECKED) - kinds) == [], "no scenario renders these: their selector tests check nothing"
    spread = [name for name, objs in zip(ALL, rendered)
              if find(objs, "Deployment")["spec"]["template"]["spec"].get("topologySpreadConstraints")]
    assert spread, "no scenario renders topologySpreadConstraints: test_topology_spread checks nothing"
    policies = [name for name, objs in zip(ALL, rendered) if any(o["kind"] == "NetworkPolicy" for o in objs)]
    assert policies, "no scenario renders a NetworkPolicy"


def test_services_should_select_the_server_pods_and_nothing_else(scenario):
    objs, server, others = scenario
    for svc in (o for o in objs if o["kind"] == "Service"):
        selector = svc["spec"].get("selector")
        assert service_selector_matches(selector, server), svc["metadata"]["name"]
        for name, labels in others:
            assert not service_selector_matches(selector, labels), (svc["metadata"]["name"], name)


def test_the_service_monitor_should_reach_one_metrics_service_that_selects_only_server_pods(scenario):
    objs, server, others = scenario
    for sm in (o for o in objs if o["kind"] == "ServiceMonitor"):
        ports = {e["port"] for e in sm["spec"]["endpoints"]}
        scraped = [svc for svc in objs if svc["kind"] == "Service"
                   and label_selector_matches(sm["spec"]["selector"], svc["metadata"]["labels"])
                   and ports & {p["name"] for p in svc["spec"]["ports"]}]
        assert len(scraped) == 1, [s["metadata"]["name"] for s in scraped]  # two would scrape every pod twice
        selector = scraped[0]["spec"]["selector"]
        assert service_selector_matches(selector, server)
        assert not any(service_selector_matches(selector, labels) for _, labels in others)


def test_network_policies_should_each_select_the_server_pods_only_or_no_server_pod(scenario):
    objs, server, others = scenario
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"]
    server_policies = [p for p in policies if label_selector_matches(p["spec"]["podSelector"], server)]
    assert len(server_policies) == int(bool(policies)), [p["metadata"]["name"] for p in server_policies]
    for policy in server_policies:
        assert not any(label_selector_matches(policy["spec"]["podSelector"], labels) for _, labels in others)


@pytest.mark.parametrize("kind, path", [
    ("PodMonitor", ("spec", "selector")),
    ("PodDisruptionBudget", ("spec", "selector")),
    ("Deployment", ("spec", "selector")),
])
def test_pod_selectors_should_select_the_server_pods_and_nothing_else(scenario, kind, path):
    objs, server, others = scenario
    for obj in (o for o in objs if o["kind"] == kind):
        selector = obj[path[0]][path[1]]
        assert label_selector_matches(selector, server), obj["metadata"]["name"]
        for name, labels in others:
            assert not label_selector_matches(selector, labels), (kind, name)


def test_topology_spread_should_count_only_server_pods(scenario):
    objs, server, others = scenario
    spec = find(objs, "Deployment")["spec"]["template"]["spec"]
    for constraint in spec.get("topologySpreadConstraints", []):
        assert label_selector_matches(constraint["labelSelector"], server)
        assert not any(label_selector_matches(constraint["labelSelector"], labels) for _, labels in others)


def test_autoscalers_should_target_the_server_deployment_whose_selector_counts_only_server_pods(scenario):
    objs, server, others = scenario
    for scaler in (o for o in objs if o["kind"] in ("HorizontalPodAutoscaler", "ScaledObject")):
        ref = scaler["spec"]["scaleTargetRef"]
        target = find(objs, ref.get("kind", "Deployment"), ref["name"])
        assert target["apiVersion"] == ref.get("apiVersion", "apps/v1")
        selector = target["spec"]["selector"]
        assert label_selector_matches(selector, server)
        assert not any(label_selector_matches(selector, labels) for _, labels in others)
