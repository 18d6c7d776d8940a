"""What a real cluster does with the rendered chart: KEDA's parser, Triton's object-storage
download, NetworkPolicy admission, MIG metrics, the Prometheus Operator's absence, pod QoS."""

from __future__ import annotations

import copy
import re

import helm_python
import pytest
import yaml

import generated_files
from crd_validation import go_parse_float
from label_selectors import label_selector_matches, pod_source, policy_admits
from manifest_lookup import SCENARIOS, find, pod_spec, triton_container

KEDA = {"enabled": True, "metricsSource": "keda", "keda": {"serverAddress": "http://prometheus.monitoring.svc:9090"}}
ADAPTER = {"enabled": True, "metricsSource": "prometheus-adapter"}


def refused(render, values) -> str:
    with pytest.raises(helm_python.HelmRenderError) as err:
        render(values)
    assert "VALUES VALIDATION" in str(err.value)
    return str(err.value)


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def seconds(duration: str) -> float:
    """A Prometheus duration (e.g. 1h30m, 2100s) in seconds."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration)
    assert "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * units[u] for n, u in parts)


# ------------------------------------------------------------------ 1. KEDA thresholds

@pytest.mark.parametrize("metric", ["queueTimePerRequest", "queueComputeRatio", "gpuUtilization"])
def test_keda_should_parse_the_threshold_of_every_metric_as_a_number(render, metric):
    so = find(render({"autoscaling": {**KEDA, "metric": metric}}), "ScaledObject")
    threshold = so["spec"]["triggers"][0]["metadata"]["threshold"]
    assert go_parse_float(threshold) > 0


def test_the_keda_scenario_threshold_should_be_the_plain_decimal_keda_reads(render, scenario_values):
    so = find(render(scenario_values["keda-values"]), "ScaledObject")
    assert go_parse_float(so["spec"]["triggers"][0]["metadata"]["threshold"]) == 0.5


@pytest.mark.parametrize("target", ["500m", "1k", "0.5Gi"])
def test_a_kubernetes_quantity_as_autoscaling_target_should_be_refused_naming_the_key(chart, target):
    with pytest.raises(helm_python.HelmValuesError) as err:
        chart.validate_schema({"autoscaling": {"targets": {"queueComputeRatio": target}}})
    assert "/autoscaling/targets/queueComputeRatio" in str(err.value)


# ------------------------------------------------------------------ 2. object-storage cache

@pytest.mark.parametrize("source, url, env_name", [
    ("s3", "s3://bucket/models", "TRITON_AWS_MOUNT_DIRECTORY"),
    ("gcs", "gs://bucket/models", "TRITON_GCS_MOUNT_DIRECTORY"),
    ("azure", "as://account/container/models", "TRITON_AZURE_MOUNT_DIRECTORY"),
])
def test_object_storage_should_download_into_its_own_sized_cache_volume(render, source, url, env_name):
    repo = {"source": source, source: {"url": url}, "cache": {"sizeLimit": "80Gi"}}
    if source == "azure":
        repo["azure"]["existingSecret"] = "azure-keys"
    objs = render({"modelRepository": repo})
    c = triton_container(objs)
    cache_dir = env_of(c)[env_name]["value"]
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == cache_dir)
    volume = next(v for v in pod_spec(objs)["volumes"] if v["name"] == mount["name"])
    assert volume["emptyDir"]["sizeLimit"] == "80Gi"
    assert cache_dir != "/tmp" and not cache_dir.startswith("/tmp/")


def test_a_filesystem_repository_should_get_no_download_cache(render):
    c = triton_container(render({}))
    assert not [e for e in env_of(c) if e.endswith("_MOUNT_DIRECTORY")]


def test_a_cache_smaller_than_the_declared_repository_should_be_refused(render):
    message = refused(render, {"modelRepository": {"source": "s3", "s3": {"url": "s3://b/m"},
                                                   "cache": {"sizeLimit": "10Gi", "repositorySize": "40Gi"}}})
    assert "modelRepository.cache.sizeLimit=10Gi" in message and "modelRepository.cache.repositorySize=40Gi" in message


def ephemeral_storage_request(objs) -> str | None:
    return triton_container(objs).get("resources", {}).get("requests", {}).get("ephemeral-storage")


@pytest.mark.parametrize("source, url", [("s3", "s3://bucket/models"), ("gcs", "gs://bucket/models")])
def test_the_download_cache_should_be_requested_as_ephemeral_storage_so_the_scheduler_finds_the_disk(render, source, url):
    """An emptyDir's sizeLimit only evicts the pod once it is exceeded; the scheduler places the pod
    by its containers' ephemeral-storage requests, so without one it lands on a node whose disk
    cannot hold the cache."""
    from kubernetes.utils import parse_quantity

    objs = render({"modelRepository": {"source": source, source: {"url": url}, "cache": {"sizeLimit": "80Gi"}}})
    assert parse_quantity(ephemeral_storage_request(objs)) == parse_quantity("80Gi")
    requests = triton_container(objs)["resources"]["requests"]
    assert requests["cpu"] == "1" and requests["memory"] == "4Gi", "the other requests stay"


def test_a_larger_ephemeral_storage_request_of_the_user_should_be_kept(render):
    objs = render({"modelRepository": {"source": "s3", "s3": {"url": "s3://b/m"}, "cache": {"sizeLimit": "20Gi"}},
                   "resources": {"requests": {"cpu": "2", "memory": "8Gi", "ephemeral-storage": "50Gi"}}})
    assert ephemeral_storage_request(objs) == "50Gi"


def test_an_ephemeral_storage_request_smaller_than_the_download_cache_should_be_refused(render):
    message = refused(render, {"modelRepository": {"source": "s3", "s3": {"url": "s3://b/m"}, "cache": {"sizeLimit": "20Gi"}},
                               "resources": {"requests": {"cpu": "1", "memory": "4Gi", "ephemeral-storage": "5Gi"}}})
    assert "resources.requests.ephemeral-storage=5Gi" in message and "modelRepository.cache.sizeLimit=20Gi" in message


def test_a_filesystem_repository_should_request_no_ephemeral_storage_for_a_cache(render):
    assert ephemeral_storage_request(render({})) is None


# ------------------------------------------------------------------ 3. NetworkPolicy and non-pod clients

SERVER_PORTS = [{"name": "http", "containerPort": 8000, "protocol": "TCP"},
                {"name": "grpc", "containerPort": 8001, "protocol": "TCP"},
                {"name": "metrics", "containerPort": 8002, "protocol": "TCP"}]


def test_extra_ingress_should_admit_ip_blocks_and_peers_to_the_serving_ports(render):
    extra = [{"from": [{"ipBlock": {"cidr": "10.20.0.0/16", "except": ["10.20.9.0/24"]}},
                       {"namespaceSelector": {"matchLabels": {"team": "ml"}}}],
              "ports": [{"port": "http"}, {"port": "grpc"}]}]
    policy = find(render({"networkPolicy": {"extraIngress": extra}}), "NetworkPolicy", "triton")
    assert policy_admits(policy, SERVER_PORTS, "grpc", {"ip": "10.20.1.7"})
    assert not policy_admits(policy, SERVER_PORTS, "grpc", {"ip": "10.20.9.7"})
    assert policy_admits(policy, SERVER_PORTS, "http", {"namespace": "apps", "namespace_labels": {"team": "ml"},
                                                        "pod_labels": {}})
    assert not policy_admits(policy, SERVER_PORTS, "metrics", {"ip": "10.20.1.7"})


@pytest.mark.parametrize("values, named", [
    ({"service": {"type": "LoadBalancer"}}, "service.type=LoadBalancer"),
    ({"service": {"type": "NodePort"}}, "service.type=NodePort"),
    ({"ingress": {"enabled": True, "controller": "alb"}}, "ingress.controller=alb"),
    ({"ingress": {"enabled": True, "controller": "gce"}}, "ingress.controller=gce"),
])
def test_clients_that_are_not_pods_behind_the_policy_without_an_extra_rule_should_be_refused(render, values, named):
    message = refused(render, values)
    assert named in message and "networkPolicy.extraIngress" in message


def test_a_load_balancer_with_an_extra_rule_should_render_the_rule_into_the_policy(render):
    extra = [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": "http"}, {"port": "grpc"}]}]
    policy = find(render({"service": {"type": "LoadBalancer"}, "networkPolicy": {"extraIngress": extra}}),
                  "NetworkPolicy", "triton")
    assert extra[0] in policy["spec"]["ingress"], "the extra rule is not among the policy's ingress rules"
    # and it does what it says: the load balancer's source range reaches the serving ports, no further
    assert policy_admits(policy, SERVER_PORTS, "http", {"ip": "10.1.2.3"})
    assert policy_admits(policy, SERVER_PORTS, "grpc", {"ip": "10.1.2.3"})
    assert not policy_admits(policy, SERVER_PORTS, "http", {"ip": "192.168.1.1"})


def test_the_helm_test_pod_should_reach_the_server_when_the_release_namespace_is_not_allowed(render):
    objs = render({"networkPolicy": {"allowSameNamespace": False}})
    policy, test_pod = find(objs, "NetworkPolicy", "triton"), find(objs, "Pod")
    source = pod_source(test_pod["metadata"]["namespace"], test_pod["metadata"]["labels"])
    assert policy_admits(policy, SERVER_PORTS, "http", source)
    assert policy_admits(policy, SERVER_PORTS, "grpc", source)
    other = pod_source(test_pod["metadata"]["namespace"], {"app": "someone-else"})
    assert not policy_admits(policy, SERVER_PORTS, "http", other)


# ------------------------------------------------------------------ 4. MIG and GPU metrics

def test_gpu_utilisation_autoscaling_on_mig_should_be_refused_pointing_at_queue_metrics(render, scenario_values):
    values = {**scenario_values["mig-values"], "autoscaling": {**KEDA, "metric": "gpuUtilization"}}
    message = refused(render, values)
    assert "gpu.mig.profile=1g.10gb" in message and "autoscaling.metric=queueTimePerRequest" in message


# ------------------------------------------------------------------ 5. prometheus-adapter without the Operator

def test_prometheus_adapter_autoscaling_should_refuse_to_render_without_rules_prometheus_loads(render):
    message = refused(render, {"autoscaling": ADAPTER, "metrics": {"serviceMonitor": {"enabled": True}}})
    assert "metrics.prometheusRule.enabled=true" in message and "metrics.rulesConfigMap.enabled=true" in message


def test_the_rules_config_map_should_hold_the_prometheus_rule_groups_for_plain_prometheus(render):
    objs = render({"metrics": {"prometheusRule": {"enabled": True}, "rulesConfigMap": {"enabled": True}}})
    cm = find(objs, "ConfigMap", "triton-rules")
    (text,) = cm["data"].values()
    assert yaml.safe_load(text) == {"groups": find(objs, "PrometheusRule")["spec"]["groups"]}


def test_prometheus_adapter_autoscaling_on_plain_prometheus_should_render_only_the_config_map(render):
    objs = render({"autoscaling": ADAPTER, "metrics": {"scrapeAnnotations": True, "rulesConfigMap": {"enabled": True}}})
    assert not [o for o in objs if o["kind"] == "PrometheusRule"]
    groups = yaml.safe_load(next(iter(find(objs, "ConfigMap", "triton-rules")["data"].values())))["groups"]
    assert any("record" in r for g in groups for r in g["rules"])


# ------------------------------------------------------------------ 6. NOTES for KEDA

def test_notes_should_query_the_external_metric_name_keda_registers(render, scenario_values):
    notes = render(scenario_values["keda-values"], raw=True)["triton/templates/NOTES.txt"]
    assert ("/apis/external.metrics.k8s.io/v1beta1/namespaces/triton/s0-prometheus"
            "?labelSelector=scaledobject.keda.sh%2Fname%3Dtriton") in notes


# ------------------------------------------------------------------ 7. the rate window

def test_the_rate_window_should_be_used_by_every_rate_the_autoscalers_read(render):
    values = {"metrics": {"rateWindow": "2m", "serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
              "autoscaling": {**ADAPTER}}
    rule = find(render(values), "PrometheusRule")
    recording = [r["expr"] for g in rule["spec"]["groups"] if g["name"].endswith(".recording") for r in g["rules"]]
    windows = {w for e in recording for w in re.findall(r"\[([^\]]+)\]", e)}
    assert windows == {"2m"}
    query = find(render({"metrics": {"rateWindow": "2m"}, "autoscaling": KEDA}), "ScaledObject")["spec"]["triggers"][0]["metadata"]["query"]
    assert set(re.findall(r"\[([^\]]+)\]", query)) == {"2m"}


@pytest.mark.parametrize("monitor", ["serviceMonitor", "podMonitor"])
def test_a_rate_window_shorter_than_four_scrape_intervals_should_be_refused(render, monitor):
    message = refused(render, {"metrics": {"rateWindow": "1m", monitor: {"enabled": True, "interval": "30s"}}})
    assert "metrics.rateWindow=1m" in message and f"metrics.{monitor}.interval=30s" in message and "2m" in message


# ------------------------------------------------------------------ 8. smaller ones

def test_a_gpu_pod_should_request_cpu_and_memory_by_default_so_it_is_not_best_effort(render):
    requests = triton_container(render({}))["resources"]["requests"]
    assert {"cpu", "memory"} <= set(requests)


def test_a_gpu_pod_without_cpu_and_memory_requests_should_be_refused(render):
    message = refused(render, {"resources": {"requests": None}})
    assert "resources.requests" in message and "BestEffort" in message


@pytest.mark.parametrize("scenario", ["defaults", *SCENARIOS])
def test_models_not_ready_should_not_fire_before_the_startup_budget_is_spent(render, scenario_values, scenario):
    values = copy.deepcopy(scenario_values[scenario])
    values.setdefault("metrics", {}).setdefault("prometheusRule", {})["enabled"] = True
    values["metrics"]["enabled"] = True
    rule = find(render(values), "PrometheusRule")
    alert = next(r for g in rule["spec"]["groups"] for r in g["rules"] if r.get("alert") == "TritonModelsNotReady")
    budget = values.get("probes", {}).get("startup", {}).get("budgetSeconds", 1800)
    assert seconds(alert["for"]) > budget


def test_a_not_ready_delay_shorter_than_the_startup_budget_should_be_refused(render):
    message = refused(render, {"metrics": {"prometheusRule": {"enabled": True, "alerts": {"notReadyFor": "15m"}}}})
    assert "metrics.prometheusRule.alerts.notReadyFor=15m" in message and "probes.startup.budgetSeconds=1800" in message


def test_the_helm_test_pod_should_not_match_the_server_selector(render):
    objs = render({})
    selector = find(objs, "Deployment")["spec"]["selector"]
    assert not label_selector_matches(selector, find(objs, "Pod")["metadata"]["labels"])


def test_dev_shm_should_hold_one_python_backend_region_per_model_instance(render):
    message = refused(render, {"shm": {"sizeLimit": "64Mi"},
                               "pythonBackend": {"shmDefaultByteSize": 16777216, "modelInstances": 8}})
    assert "pythonBackend.modelInstances=8" in message and "shm.sizeLimit=64Mi" in message


def test_s3_existing_secret_should_also_pass_an_optional_session_token(render):
    c = triton_container(render({"modelRepository": {"source": "s3", "s3": {"url": "s3://b/m", "existingSecret": "aws"}}}))
    token = env_of(c)["AWS_SESSION_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token == {"name": "aws", "key": "AWS_SESSION_TOKEN", "optional": True}


def test_the_plain_manifests_should_not_claim_to_be_managed_by_helm():
    manifests = generated_files.k8s_manifests()
    assert manifests, "no plain manifests generated"
    for name, text in manifests.items():
        docs = list(yaml.safe_load_all(text))
        assert docs, name
        for doc in docs:
            assert doc["metadata"]["labels"].get("app.kubernetes.io/managed-by") != "Helm", name
