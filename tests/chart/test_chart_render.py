"""Every scenario renders with Helm's engine, lints clean and validates against the schemas:
Kubernetes 1.30's for built-in kinds, the official CRD schemas for the custom resources."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest

import crd_validation
import helm_engine
from manifest_lookup import SCENARIOS

KUBE = "1.30.0"
# Kinds without a namespace (the NFS repository's PersistentVolume).
CLUSTER_SCOPED = {"PersistentVolume"}
ALL = ["defaults", *SCENARIOS]

# Metric names current Triton (2.5x/2.6x, containers 24.xx-25.xx) exposes on :8002/metrics.
TRITON_METRICS = {
    "nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
    "nv_inference_exec_count", "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us", "nv_inference_pending_request_count",
    "nv_gpu_utilization", "nv_gpu_memory_total_bytes", "nv_gpu_memory_used_bytes",
    "nv_gpu_power_usage", "nv_gpu_power_limit", "nv_energy_consumption",
    "nv_cpu_utilization", "nv_cpu_memory_total_bytes", "nv_cpu_memory_used_bytes",
}


@pytest.mark.parametrize("scenario", ALL)
def test_scenario_should_lint_clean_with_helms_engine_in_strict_mode(scenario, scenario_values):
    assert helm_engine.lint(scenario_values[scenario]) == []


@pytest.mark.parametrize("scenario", ALL)
def test_every_rendered_object_should_be_valid_for_kubernetes_1_30(scenario, scenario_values, render):
    objs = render(scenario_values[scenario])
    assert objs
    for obj in objs:
        if (obj["apiVersion"], obj["kind"]) not in crd_validation.CUSTOM_KINDS:
            kubernetes_validate.validate(obj, KUBE, strict=True)
    assert {k: e for k, e in crd_validation.validate(objs).items() if e} == {}


def test_every_custom_resource_kind_the_chart_renders_should_be_validated_by_an_official_schema(render, scenario_values):
    rendered = {(o["apiVersion"], o["kind"]): o for s in ALL for o in render(scenario_values[s])}
    unknown_to_kubernetes = set()
    for key, obj in rendered.items():
        try:
            kubernetes_validate.validate(obj, KUBE, strict=True)
        except kubernetes_validate.utils.SchemaNotFoundError:
            unknown_to_kubernetes.add(key)
    assert unknown_to_kubernetes == crd_validation.CUSTOM_KINDS


@pytest.mark.parametrize("kind, mutate, fragment", [
    ("ServiceMonitor", lambda o: o["spec"]["endpoints"][0].update(interval="15"), "/spec/endpoints/0/interval"),
    ("ServiceMonitor", lambda o: o["spec"].update(endpoint=[]), "/spec/endpoint: field not declared"),
    ("PrometheusRule", lambda o: o["spec"]["groups"][0].pop("name"), "/spec/groups/0: must have required property"),
    ("ScaledObject", lambda o: o["spec"].update(minReplicaCount="1"), "/spec/minReplicaCount"),
    ("ScaledObject", lambda o: o["spec"]["triggers"][0]["metadata"].update(threshold="500m"),
     "/spec/triggers/0/metadata/threshold: strconv.ParseFloat"),
    ("ScaledObject", lambda o: o["spec"]["triggers"][0]["metadata"].update(activationThreshold="1 000"),
     "/spec/triggers/0/metadata/activationThreshold"),
    ("HTTPRoute", lambda o: o["spec"]["rules"][0]["backendRefs"][0].update(weight=-1), "/spec/rules/0/backendRefs/0/weight"),
    ("GRPCRoute", lambda o: o["spec"]["rules"][0]["matches"][0]["method"].update(type="Prefix"), "/spec/rules/0/matches/0/method/type"),
])
def test_an_invalid_custom_resource_should_fail_its_official_schema(render, scenario_values, kind, mutate, fragment):
    objs = [o for s in ("autoscaling-adapter-values", "keda-values", "ingress-gateway-canary-values")
            for o in render(scenario_values[s])]
    obj = next(o for o in objs if o["kind"] == kind)
    mutate(obj)
    errors = crd_validation.validate([obj])[(kind, obj["metadata"]["name"])]
    assert any(fragment in e for e in errors), errors


@pytest.mark.parametrize("text, value", [("0.5", 0.5), ("50000", 50000.0), ("1e3", 1000.0), ("-.5", -0.5),
                                         ("0x1p-2", 0.25), ("Inf", float("inf"))])
def test_go_parse_float_should_accept_what_strconv_parse_float_accepts(text, value):
    assert crd_validation.go_parse_float(text) == value


@pytest.mark.parametrize("text", ["500m", "800m", "1k", "0.5Gi", " 1", "1_000", "", "+nan", "1e"])
def test_go_parse_float_should_refuse_what_strconv_parse_float_refuses(text):
    with pytest.raises(ValueError):
        crd_validation.go_parse_float(text)


@pytest.mark.parametrize("scenario", ALL)
def test_every_object_should_carry_the_release_labels_and_a_dns_name(scenario, scenario_values, render):
    for obj in render(scenario_values[scenario]):
        meta = obj["metadata"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", meta["name"]) and len(meta["name"]) <= 63
        assert meta["labels"]["app.kubernetes.io/instance"] == "triton"
        # the helm test client is named apart, so that no server selector counts it
        is_test = "helm.sh/hook" in (meta.get("annotations") or {})
        assert meta["labels"]["app.kubernetes.io/name"] == ("triton-test" if is_test else "triton")
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        if obj["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in meta, obj["kind"]
        else:
            assert meta["namespace"] == "triton"


def test_selectors_should_never_contain_the_chart_version(render, scenario_values):
    dep = next(o for o in render({}) if o["kind"] == "Deployment")
    assert set(dep["spec"]["selector"]["matchLabels"]) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}


def test_the_default_render_should_have_exactly_the_core_objects(render):
    from manifest_lookup import kinds

    assert kinds(render({})) == sorted([
        "ConfigMap", "Deployment", "NetworkPolicy", "NetworkPolicy", "PersistentVolumeClaim", "PodDisruptionBudget",
        "Pod", "Secret", "Service", "Service", "ServiceAccount"])


@pytest.mark.parametrize("scenario", ALL)
def test_rules_and_dashboard_should_only_use_metric_names_triton_exposes(scenario, scenario_values, render):
    text = "\n".join(render(scenario_values[scenario], raw=True).values())
    text += helm_engine.CHART.joinpath("files", "dashboard.json").read_text()
    used = set(re.findall(r"\bnv_[a-z_]+", text))
    assert used <= TRITON_METRICS, f"unknown Triton metrics: {sorted(used - TRITON_METRICS)}"


def test_a_very_long_release_name_should_be_truncated_to_63_characters(render):
    objs = render({}, name="a" * 60)
    for obj in objs:
        assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]
    names = [o["metadata"]["name"] for o in objs if o["kind"] == "Service"]
    assert len(set(names)) == len(names), names


def test_the_release_name_should_not_be_repeated_when_it_contains_the_chart_name(render):
    dep = next(o for o in render({}, name="prod-triton") if o["kind"] == "Deployment")
    assert dep["metadata"]["name"] == "prod-triton"
    dep = next(o for o in render({}, name="prod") if o["kind"] == "Deployment")
    assert dep["metadata"]["name"] == "prod-triton"


def test_rendering_in_another_namespace_should_leave_no_trace_of_the_default_one(render, scenario_values):
    text = "\n".join(render(scenario_values["autoscaling-adapter-values"], raw=True, namespace="ml-prod").values())
    assert 'namespace="ml-prod"' in text
    assert 'namespace="triton"' not in text and "namespace: triton\n" not in text
