"""What each value does to the rendered objects; names read as sentences.

(Over 400 lines on purpose: one short test per value, in the sections and order of
values.yaml, so the test of a value is found by searching one file for its name; each section
is a handful of independent render-and-look checks with nothing shared to factor out.)
"""

from __future__ import annotations

import json

import pytest
import yaml

import helm_engine
import promkit
from label_selectors import label_selector_matches, node_admits
from manifest_lookup import find, kinds, pod_spec, triton_container


# Clients that are not pods (node IPs, cloud load balancers) need a rule of their own.
LB_RULE = [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": "http"}, {"port": "grpc"}]}]


def args_of(objs):
    return triton_container(objs)["args"]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def mounts_of(container):
    return {m["name"]: m for m in container.get("volumeMounts", [])}


def volumes_of(objs):
    return {v["name"]: v for v in pod_spec(objs)["volumes"]}


# ------------------------------------------------------------------ image

def test_the_default_image_should_be_the_official_triton_release_of_app_version(render):
    assert triton_container(render({}))["image"] == "nvcr.io/nvidia/tritonserver:25.10-py3"


def test_image_tag_should_override_the_release_and_follow_to_the_sdk_and_tensorrt_images(render):
    objs = render({"image": {"tag": "25.08-py3"}, "engineBuild": {"enabled": True},
                   "modelRepository": {"source": "nfs", "nfs": {"server": "nfs", "path": "/m"}}})
    assert triton_container(objs)["image"].endswith(":25.08-py3")
    assert find(objs, "Pod")["spec"]["containers"][0]["image"] == "nvcr.io/nvidia/tritonserver:25.08-py3-sdk"
    init = pod_spec(objs)["initContainers"][0]
    assert init["image"] == "nvcr.io/nvidia/tensorrt:25.08-py3"


def test_image_digest_should_pin_the_image_and_win_over_the_tag(render):
    digest = "sha256:" + "a" * 64
    objs = render({"image": {"tag": "25.08-py3", "digest": digest}})
    assert triton_container(objs)["image"] == f"nvcr.io/nvidia/tritonserver@{digest}"


def test_image_pull_secrets_should_reach_the_pod(render):
    assert pod_spec(render({"image": {"pullSecrets": ["ngc"]}}))["imagePullSecrets"] == [{"name": "ngc"}]


# ------------------------------------------------------------------ GPU scheduling

def test_one_whole_gpu_should_be_requested_and_limited_by_default(render):
    res = triton_container(render({}))["resources"]
    assert res["limits"] == {"nvidia.com/gpu": 1}
    assert res["requests"] == {"nvidia.com/gpu": 1, "cpu": "1", "memory": "4Gi"}


def test_gpu_count_should_set_the_gpu_request_and_limit(render):
    res = triton_container(render({"gpu": {"count": 4}}))["resources"]
    assert res["limits"]["nvidia.com/gpu"] == 4 and res["requests"]["nvidia.com/gpu"] == 4


def test_gpu_resources_should_merge_with_cpu_and_memory_resources(render):
    res = triton_container(render({"resources": {"requests": {"cpu": "2"}, "limits": {"memory": "8Gi"}}}))["resources"]
    assert res == {"requests": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": 1}, "limits": {"memory": "8Gi", "nvidia.com/gpu": 1}}


def test_a_mig_profile_should_request_mig_slices_instead_of_whole_gpus(render, scenario_values):
    res = triton_container(render(scenario_values["mig-values"]))["resources"]
    assert res["limits"] == {"nvidia.com/mig-1g.10gb": 1}
    assert "nvidia.com/gpu" not in res["requests"]


# Node labels as NVIDIA's device plugin and GPU feature discovery set them on an A100 80GB node
# (NVIDIA k8s-device-plugin / gpu-feature-discovery docs): the MIG strategy, and the product, which
# under the single strategy names the slice profile (<product>-MIG-<profile>).
A100 = "NVIDIA-A100-SXM4-80GB"
NODES = {
    "single 1g.10gb": {"nvidia.com/mig.strategy": "single", "nvidia.com/gpu.product": f"{A100}-MIG-1g.10gb"},
    "single 2g.20gb": {"nvidia.com/mig.strategy": "single", "nvidia.com/gpu.product": f"{A100}-MIG-2g.20gb"},
    "mixed": {"nvidia.com/mig.strategy": "mixed", "nvidia.com/gpu.product": A100},
    "whole gpus": {"nvidia.com/mig.strategy": "none", "nvidia.com/gpu.product": A100},
}
SINGLE = {"gpu": {"count": 0, "mig": {"profile": "1g.10gb", "strategy": "single"}, "products": [A100]}}


def test_mig_single_strategy_should_request_one_nvidia_gpu_on_nodes_of_that_slice_profile_only(render):
    objs = render(SINGLE)
    res = triton_container(objs)["resources"]
    # the single strategy exposes every slice as nvidia.com/gpu: no nvidia.com/mig-* resource exists
    assert res["limits"]["nvidia.com/gpu"] == 1 and res["requests"]["nvidia.com/gpu"] == 1
    assert not any(k.startswith("nvidia.com/mig-") for part in res.values() for k in part)
    admitted = {name for name, labels in NODES.items() if node_admits(pod_spec(objs), labels)}
    assert admitted == {"single 1g.10gb"}


def test_mig_mixed_strategy_should_stay_the_default_with_mig_resources(render, scenario_values):
    objs = render(scenario_values["mig-values"])
    assert triton_container(objs)["resources"]["limits"] == {"nvidia.com/mig-1g.10gb": 1}
    assert node_admits(pod_spec(objs), NODES["mixed"])


def test_gpu_products_should_become_required_node_affinity_on_the_gpu_product_label(render):
    spec = pod_spec(render({"gpu": {"products": ["NVIDIA-L4"]}}))
    term = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
    assert term["matchExpressions"] == [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-L4"]}]


def test_gpu_products_should_keep_the_users_pod_anti_affinity(render):
    anti = {"preferredDuringSchedulingIgnoredDuringExecution": []}
    spec = pod_spec(render({"gpu": {"products": ["NVIDIA-L4"]}, "affinity": {"podAntiAffinity": anti}}))
    assert spec["affinity"]["podAntiAffinity"] == anti and "nodeAffinity" in spec["affinity"]


def test_the_nvidia_gpu_taint_should_be_tolerated_by_default(render):
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod_spec(render({}))["tolerations"]


def test_gpu_toleration_false_should_drop_the_nvidia_toleration(render):
    assert "tolerations" not in pod_spec(render({"gpu": {"toleration": False}}))


def test_runtime_class_name_should_be_set_only_when_given(render):
    assert "runtimeClassName" not in pod_spec(render({}))
    assert pod_spec(render({"runtimeClassName": "nvidia"}))["runtimeClassName"] == "nvidia"


def test_pods_should_spread_across_nodes_and_zones_by_default(render):
    keys = [c["topologyKey"] for c in pod_spec(render({}))["topologySpreadConstraints"]]
    assert keys == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]


def test_topology_spread_can_require_spreading_and_skip_zones(render):
    tsc = pod_spec(render({"topologySpread": {"whenUnsatisfiable": "DoNotSchedule", "zones": False}}))["topologySpreadConstraints"]
    assert [(c["topologyKey"], c["whenUnsatisfiable"]) for c in tsc] == [("kubernetes.io/hostname", "DoNotSchedule")]


def test_topology_spread_disabled_should_leave_no_constraints(render):
    assert "topologySpreadConstraints" not in pod_spec(render({"topologySpread": {"enabled": False}}))


def test_cpu_only_mode_should_request_no_gpu_and_hide_gpus_from_triton(render, scenario_values):
    objs = render(scenario_values["cpu-only-values"])
    c = triton_container(objs)
    assert not any(k.startswith("nvidia.com/") for part in c["resources"].values() for k in part)
    env = env_of(c)
    assert env["NVIDIA_VISIBLE_DEVICES"]["value"] == "void" and env["CUDA_VISIBLE_DEVICES"]["value"] == ""
    assert "--allow-gpu-metrics=false" in c["args"]
    assert "tolerations" not in pod_spec(objs) and "affinity" not in pod_spec(objs)


def test_cpu_only_mode_should_ignore_gpu_products(render):
    assert "affinity" not in pod_spec(render({"gpu": {"enabled": False, "products": ["NVIDIA-L4"]}}))


# ------------------------------------------------------------------ model repository

def test_the_default_repository_should_be_a_chart_created_pvc_mounted_read_only(render):
    objs = render({})
    pvc = find(objs, "PersistentVolumeClaim")
    assert pvc["metadata"]["name"] == "triton-models"
    assert pvc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert volumes_of(objs)["model-repository"]["persistentVolumeClaim"]["claimName"] == "triton-models"
    assert mounts_of(triton_container(objs))["model-repository"]["readOnly"] is True
    assert "--model-repository=/models" in args_of(objs)


def test_an_existing_claim_should_be_used_and_no_pvc_created(render, scenario_values):
    objs = render(scenario_values["gpu-values"])
    assert "PersistentVolumeClaim" not in kinds(objs)
    assert volumes_of(objs)["model-repository"]["persistentVolumeClaim"]["claimName"] == "model-repository"


def test_pvc_settings_should_shape_the_created_claim_and_the_mount(render, scenario_values):
    objs = render(scenario_values["pvc-values"])
    pvc = find(objs, "PersistentVolumeClaim")
    assert pvc["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert pvc["spec"]["storageClassName"] == "filestore-standard"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "50Gi"
    assert mounts_of(triton_container(objs))["model-repository"]["subPath"] == "model_repository"


def test_nfs_should_mount_the_export_read_only_through_a_claim(render, scenario_values):
    # restricted Pod Security refuses inline nfs volumes: a chart-made PV + PVC carry the export
    objs = render(scenario_values["nfs-values"])
    vol = volumes_of(objs)["model-repository"]
    assert "nfs" not in vol
    claim = find(objs, "PersistentVolumeClaim", vol["persistentVolumeClaim"]["claimName"])
    pv = find(objs, "PersistentVolume", claim["spec"]["volumeName"])
    assert pv["spec"]["nfs"] == {"server": "10.20.0.5", "path": "/exports/model_repository", "readOnly": True}
    assert pv["spec"]["claimRef"] == {"namespace": "triton", "name": claim["metadata"]["name"]}
    assert pv["spec"]["accessModes"] == claim["spec"]["accessModes"] == ["ReadOnlyMany"]
    assert vol["persistentVolumeClaim"]["readOnly"] is True


def test_s3_with_irsa_should_let_triton_read_the_bucket_with_no_keys_anywhere(render, scenario_values):
    objs = render(scenario_values["s3-irsa-values"])
    c = triton_container(objs)
    assert "--model-repository=s3://my-models/model_repository" in c["args"]
    env = env_of(c)
    assert env["AWS_DEFAULT_REGION"]["value"] == "eu-west-1"
    assert "AWS_ACCESS_KEY_ID" not in env
    sa = find(objs, "ServiceAccount")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "arn:aws:iam::123456789012:role/triton-model-reader"
    assert "model-repository" not in volumes_of(objs) and "PersistentVolumeClaim" not in kinds(objs)
    # the one Secret is the restricted APIs' key (server.restrictedApis), no cloud credential
    secrets = [o for o in objs if o["kind"] == "Secret"]
    assert [s["metadata"]["name"] for s in secrets] == [env["TRITON_ADMIN_KEY"]["valueFrom"]["secretKeyRef"]["name"]]
    assert list(secrets[0]["data"]) == [env["TRITON_ADMIN_KEY"]["valueFrom"]["secretKeyRef"]["key"]]


def test_s3_with_an_existing_secret_should_reference_its_keys_not_copy_them(render):
    c = triton_container(render({"modelRepository": {"source": "s3", "s3": {"url": "s3://b/m", "existingSecret": "aws"}}}))
    env = env_of(c)
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {"name": "aws", "key": "AWS_ACCESS_KEY_ID"}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "aws", "key": "AWS_SECRET_ACCESS_KEY"}


def test_gcs_with_workload_identity_should_annotate_the_service_account(render, scenario_values):
    objs = render(scenario_values["gcs-values"])
    assert "--model-repository=gs://my-models/model_repository" in args_of(objs)
    sa = find(objs, "ServiceAccount")
    assert sa["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == "triton-reader@my-project.iam.gserviceaccount.com"


def test_gcs_with_an_existing_secret_should_mount_the_key_file(render):
    objs = render({"modelRepository": {"source": "gcs", "gcs": {"url": "gs://b/m", "existingSecret": "gcp-key"}}})
    c = triton_container(objs)
    assert env_of(c)["GOOGLE_APPLICATION_CREDENTIALS"]["value"] == "/var/run/secrets/gcs/credentials.json"
    assert volumes_of(objs)["gcs-credentials"]["secret"]["secretName"] == "gcp-key"
    assert mounts_of(c)["gcs-credentials"]["readOnly"] is True


def test_azure_should_read_the_account_and_key_from_the_existing_secret(render, scenario_values):
    c = triton_container(render(scenario_values["azure-values"]))
    assert "--model-repository=as://myaccount/models/model_repository" in c["args"]
    env = env_of(c)
    assert env["AZURE_STORAGE_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "triton-azure-storage"


def test_sync_should_copy_the_repository_into_an_empty_dir_before_triton_starts(render):
    objs = render({"modelRepository": {"source": "sync", "sync": {"url": ":gcs,env_auth=true:b/m", "existingSecret": "rc"}}})
    init = pod_spec(objs)["initContainers"][0]
    assert init["name"] == "sync-model-repository" and init["image"] == "docker.io/rclone/rclone:1.68.2"
    assert init["args"][0] == "copy" and init["args"][-2:] == [":gcs,env_auth=true:b/m", "/models"]
    assert init["envFrom"] == [{"secretRef": {"name": "rc"}}]
    assert volumes_of(objs)["model-repository"]["emptyDir"]["sizeLimit"] == "20Gi"
    assert "--model-repository=/models" in args_of(objs)


# ------------------------------------------------------------------ server

def test_model_control_mode_none_should_not_poll(render):
    args = args_of(render({}))
    assert "--model-control-mode=none" in args and not any(a.startswith("--repository-poll-secs") for a in args)


def test_poll_mode_should_pass_the_poll_interval(render):
    args = args_of(render({"server": {"modelControlMode": "poll", "pollSeconds": 15}}))
    assert "--model-control-mode=poll" in args and "--repository-poll-secs=15" in args


def test_explicit_mode_should_load_the_listed_models(render, scenario_values):
    args = args_of(render(scenario_values["pvc-values"]))
    assert "--model-control-mode=explicit" in args
    assert "--load-model=digits" in args and "--load-model=linear" in args
    assert args[-1] == "--model-load-thread-count=2"


def test_exit_timeout_and_pre_stop_should_set_the_grace_period(render):
    objs = render({"server": {"exitTimeoutSeconds": 60}, "lifecycle": {"preStopSleepSeconds": 15}})
    assert "--exit-timeout-secs=60" in args_of(objs)
    assert pod_spec(objs)["terminationGracePeriodSeconds"] == 85
    assert triton_container(objs)["lifecycle"]["preStop"]["exec"]["command"][-1] == "sleep 15"


def test_an_explicit_grace_period_should_be_used_when_it_covers_the_drain(render):
    assert pod_spec(render({"terminationGracePeriodSeconds": 120}))["terminationGracePeriodSeconds"] == 120


def test_strict_readiness_should_be_on_by_default_and_switchable(render):
    assert "--strict-readiness=true" in args_of(render({}))
    assert "--strict-readiness=false" in args_of(render({"server": {"strictReadiness": False}}))


def test_log_settings_should_become_triton_flags(render):
    args = args_of(render({"server": {"logVerbose": 1, "logFormat": "ISO8601"}}))
    assert "--log-verbose=1" in args and "--log-format=ISO8601" in args


def test_grpc_connections_should_be_kept_open_by_default(render):
    assert not [a for a in args_of(render({})) if a.startswith("--grpc-max-connection-age")]


def test_grpc_max_connection_age_should_become_triton_flags_in_milliseconds(render):
    args = args_of(render({"server": {"grpcMaxConnectionAgeSeconds": 300, "grpcMaxConnectionAgeGraceSeconds": 20}}))
    assert "--grpc-max-connection-age=300000" in args and "--grpc-max-connection-age-grace=20000" in args


def test_extra_env_volumes_and_mounts_should_be_appended(render):
    objs = render({"extraEnv": [{"name": "A", "value": "1"}], "extraVolumes": [{"name": "x", "emptyDir": {}}],
                   "extraVolumeMounts": [{"name": "x", "mountPath": "/x"}]})
    assert env_of(triton_container(objs))["A"]["value"] == "1"
    assert "x" in volumes_of(objs) and mounts_of(triton_container(objs))["x"]["mountPath"] == "/x"


# ------------------------------------------------------------------ restricted APIs

# Triton's syntax ("Limit Endpoint Access" in Triton's inference protocols guide):
#   --http-restricted-api=<api>,<api>,...:<key>=<value>       HTTP requests carry header <key>
#   --grpc-restricted-protocol=<api>,<api>,...:<key>=<value>  gRPC calls carry triton-grpc-protocol-<key>
RESTRICTION_FLAGS = ("--http-restricted-api", "--grpc-restricted-protocol")


def restrictions(container) -> dict:
    """{flag: (set of APIs, header key, value)} of the container's restricted-API flags."""
    out = {}
    for arg in container["args"]:
        flag, _, rest = arg.partition("=")
        if flag in RESTRICTION_FLAGS:
            apis, _, setting = rest.partition(":")
            key, _, value = setting.partition("=")
            assert flag not in out, f"{flag} given twice"
            out[flag] = (set(apis.split(",")), key, value)
    return out


def key_reference(container, value: str) -> dict:
    """The secretKeyRef behind a `$(VAR)` value: the kubelet expands it from the container's env."""
    import re

    var = re.fullmatch(r"\$\((\w+)\)", value)
    assert var, f"the key {value!r} is written in the spec instead of coming from a Secret"
    return env_of(container)[var.group(1)]["valueFrom"]["secretKeyRef"]


def secret_value(objs, ref: dict) -> str:
    import base64

    return base64.b64decode(find(objs, "Secret", ref["name"])["data"][ref["key"]]).decode()


def test_the_repository_and_shared_memory_apis_should_need_a_key_from_a_chart_made_secret_by_default(render):
    objs = render({})
    c = triton_container(objs)
    found = restrictions(c)
    assert set(found) == set(RESTRICTION_FLAGS)
    (http_apis, http_key, http_value), (grpc_apis, grpc_key, grpc_value) = found[RESTRICTION_FLAGS[0]], found[RESTRICTION_FLAGS[1]]
    for apis in (http_apis, grpc_apis):
        assert {"model-repository", "shared-memory"} <= apis  # load/unload, shared-memory registration
        assert not {"health", "inference"} & apis  # the probes and the clients keep working without it
    assert http_key == grpc_key and http_value == grpc_value
    ref = key_reference(c, http_value)
    key = secret_value(objs, ref)
    assert len(key) >= 32
    assert key not in yaml.safe_dump_all([o for o in objs if o["kind"] != "Secret"])  # only in its Secret


def test_restricted_apis_and_header_should_follow_the_values(render):
    c = triton_container(render({"server": {"restrictedApis": {"apis": ["model-repository", "inference"], "header": "ops-key"}}}))
    assert restrictions(c), "the container restricts no API"
    for apis, key, _ in restrictions(c).values():
        assert apis == {"model-repository", "inference"} and key == "ops-key"


def test_an_existing_secret_should_hold_the_key_and_the_chart_make_none(render):
    objs = render({"server": {"restrictedApis": {"existingSecret": "ops-keys", "secretKey": "triton"}}})
    assert "Secret" not in kinds(objs)
    c = triton_container(objs)
    assert restrictions(c), "the container restricts no API"
    for _, _, value in restrictions(c).values():
        assert key_reference(c, value) == {"name": "ops-keys", "key": "triton"}
    pod_env = env_of(find(objs, "Pod")["spec"]["containers"][0])
    assert pod_env["RESTRICTED_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "ops-keys", "key": "triton"}


def test_no_restricted_apis_should_render_no_flag_no_secret_and_no_key(render):
    objs = render({"server": {"restrictedApis": {"apis": []}}})
    assert restrictions(triton_container(objs)) == {}
    assert "Secret" not in kinds(objs)
    assert "RESTRICTED_API_KEY" not in env_of(find(objs, "Pod")["spec"]["containers"][0])


# ------------------------------------------------------------------ shm and the Python backend

def test_dev_shm_should_be_a_memory_empty_dir_sized_by_shm_size_limit(render):
    objs = render({"shm": {"sizeLimit": "4Gi"}})
    assert volumes_of(objs)["shm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "4Gi"}
    assert mounts_of(triton_container(objs))["shm"]["mountPath"] == "/dev/shm"


def test_the_python_backend_shm_settings_should_become_backend_config_flags(render):
    args = args_of(render({"pythonBackend": {"shmDefaultByteSize": 67108864, "shmGrowthByteSize": 1048576}}))
    assert "--backend-config=python,shm-default-byte-size=67108864" in args
    assert "--backend-config=python,shm-growth-byte-size=1048576" in args


# ------------------------------------------------------------------ probes

def test_the_startup_probe_should_check_readiness_within_the_budget(render):
    probe = triton_container(render({"probes": {"startup": {"budgetSeconds": 905, "periodSeconds": 10}}}))["startupProbe"]
    assert probe["httpGet"]["path"] == "/v2/health/ready"
    assert probe["failureThreshold"] * probe["periodSeconds"] >= 905
    assert probe["failureThreshold"] == 91


def test_readiness_and_liveness_should_use_triton_health_endpoints(render):
    c = triton_container(render({}))
    assert c["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}


def test_each_probe_can_be_disabled(render):
    c = triton_container(render({"probes": {k: {"enabled": False} for k in ("startup", "readiness", "liveness")}}))
    assert not {"startupProbe", "readinessProbe", "livenessProbe"} & set(c)


# ------------------------------------------------------------------ security

def test_every_container_should_run_non_root_read_only_without_capabilities(render, scenario_values):
    objs = render(scenario_values["engine-build-values"])
    pods = [pod_spec(objs), find(objs, "Pod")["spec"]]
    for spec in pods:
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 1000
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert spec["automountServiceAccountToken"] is False
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]} and sc["privileged"] is False
            assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}


def test_the_service_account_should_take_annotations_and_not_mount_a_token(render):
    sa = find(render({"serviceAccount": {"annotations": {"a": "b"}}}), "ServiceAccount")
    assert sa["metadata"]["annotations"] == {"a": "b"} and sa["automountServiceAccountToken"] is False


def test_service_account_create_false_should_use_the_named_account(render):
    objs = render({"serviceAccount": {"create": False, "name": "shared"}})
    assert "ServiceAccount" not in kinds(objs) and pod_spec(objs)["serviceAccountName"] == "shared"


def test_the_pdb_should_allow_one_eviction_by_default_evict_unready_pods_and_take_min_available(render):
    default = find(render({}), "PodDisruptionBudget")["spec"]
    assert default["maxUnavailable"] == 1
    # unready pods (a model that fails under strict readiness) never block a drain
    assert default["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    pdb = find(render({"replicaCount": 4, "pdb": {"minAvailable": "50%"}}), "PodDisruptionBudget")
    assert pdb["spec"] == {"minAvailable": "50%", "unhealthyPodEvictionPolicy": "AlwaysAllow",
                           "selector": pdb["spec"]["selector"]}
    assert "PodDisruptionBudget" not in kinds(render({"pdb": {"enabled": False}}))


def test_the_network_policy_should_open_serving_ports_to_allowed_namespaces_and_metrics_to_monitoring(render):
    np = find(render({"networkPolicy": {"allowedNamespaces": ["ingress-nginx"], "monitoringNamespace": "obs"}}), "NetworkPolicy", "triton")
    serving, metrics = np["spec"]["ingress"]
    assert serving["from"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == ["triton", "ingress-nginx"]
    assert {p["port"] for p in serving["ports"]} == {"http", "grpc"}
    assert metrics["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "obs"}
    assert [p["port"] for p in metrics["ports"]] == ["metrics"]


# ------------------------------------------------------------------ services and traffic

def test_the_service_should_name_ports_http_grpc_metrics_on_8000_8001_8002(render):
    ports = find(render({}), "Service", "triton")["spec"]["ports"]
    assert [(p["name"], p["port"]) for p in ports] == [("http", 8000), ("grpc", 8001), ("metrics", 8002)]
    assert ports[1]["appProtocol"] == "kubernetes.io/h2c"


def test_a_headless_service_should_exist_for_client_side_grpc_round_robin(render):
    svc = find(render({}), "Service", "triton-headless")
    assert svc["spec"]["clusterIP"] == "None" and {p["name"] for p in svc["spec"]["ports"]} == {"http", "grpc"}


def test_node_ports_should_be_used_for_a_node_port_service(render, scenario_values):
    svc = find(render(scenario_values["nfs-values"]), "Service", "triton")
    assert svc["spec"]["type"] == "NodePort"
    assert {p["name"]: p.get("nodePort") for p in svc["spec"]["ports"]} == {"http": 30800, "grpc": 30801}


@pytest.mark.parametrize("service_type", ["ClusterIP", "NodePort", "LoadBalancer"])
def test_metrics_should_be_scraped_through_exactly_one_cluster_internal_service(render, service_type):
    """A NodePort or LoadBalancer Service publishes every port it lists outside the cluster: only
    the serving ports belong there. The ServiceMonitor still finds the metrics port on exactly one
    Service (two would scrape every pod twice), and that one is cluster-internal."""
    objs = render({"service": {"type": service_type}, "networkPolicy": {"extraIngress": LB_RULE},
                   "metrics": {"serviceMonitor": {"enabled": True}}})
    services = [o for o in objs if o["kind"] == "Service"]
    external = [s for s in services if s["spec"]["type"] in ("NodePort", "LoadBalancer")]
    assert len(external) == (service_type != "ClusterIP")
    for svc in external:
        assert {p["name"] for p in svc["spec"]["ports"]} == {"http", "grpc"}, svc["metadata"]["name"]
    sm = find(objs, "ServiceMonitor")
    scraped = [s for s in services if label_selector_matches(sm["spec"]["selector"], s["metadata"]["labels"])]
    assert len(scraped) == 1, [s["metadata"]["name"] for s in scraped]
    assert scraped[0]["spec"]["type"] == "ClusterIP" and "metrics" in {p["name"] for p in scraped[0]["spec"]["ports"]}


def test_a_load_balancer_should_take_the_source_ranges(render, scenario_values):
    svc = find(render(scenario_values["azure-values"]), "Service", "triton")
    assert svc["spec"]["loadBalancerSourceRanges"] == ["10.0.0.0/8"]


@pytest.mark.parametrize("controller, where, key, value", [
    ("nginx", "ingress", "nginx.ingress.kubernetes.io/backend-protocol", "GRPC"),
    ("alb", "ingress", "alb.ingress.kubernetes.io/backend-protocol-version", "GRPC"),
    ("haproxy", "ingress", "haproxy.org/server-proto", "h2"),
    ("traefik", "service", "traefik.ingress.kubernetes.io/service.serversscheme", "h2c"),
])
def test_the_grpc_ingress_should_speak_h2c_to_the_pods_for_each_controller(render, controller, where, key, value):
    objs = render({"ingress": {"enabled": True, "controller": controller}, "networkPolicy": {"extraIngress": LB_RULE}})
    obj = find(objs, "Ingress", "triton-grpc") if where == "ingress" else find(objs, "Service", "triton-grpc")
    assert obj["metadata"]["annotations"][key] == value
    http = find(objs, "Ingress", "triton-http")
    assert key not in (http["metadata"].get("annotations") or {})


NGINX_BODY_SIZE = "nginx.ingress.kubernetes.io/proxy-body-size"
NGINX_DEFAULT_BODY_BYTES = 1024 * 1024  # ingress-nginx's default client_max_body_size: 1m


def nginx_size_bytes(size: str) -> int:
    """An nginx size (client_max_body_size syntax: a number with an optional k, m or g suffix)."""
    import re

    number, unit = re.fullmatch(r"([0-9]+)([kKmMgG]?)", size).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[unit.lower()]


def test_both_nginx_ingresses_should_raise_the_body_limit_above_ingress_nginxs_1m_default(render):
    objs = render({"ingress": {"enabled": True}})
    sizes = {name: find(objs, "Ingress", name)["metadata"]["annotations"].get(NGINX_BODY_SIZE)
             for name in ("triton-http", "triton-grpc")}
    assert sizes["triton-grpc"] is not None, "large gRPC inputs would get 413 at the 1m default"
    assert sizes["triton-grpc"] == sizes["triton-http"]
    assert nginx_size_bytes(sizes["triton-grpc"]) > NGINX_DEFAULT_BODY_BYTES


def test_ingress_proxy_body_size_should_set_one_limit_for_http_and_grpc(render):
    objs = render({"ingress": {"enabled": True, "proxyBodySize": "512m"}})
    for name in ("triton-http", "triton-grpc"):
        assert find(objs, "Ingress", name)["metadata"]["annotations"][NGINX_BODY_SIZE] == "512m"
    other = render({"ingress": {"enabled": True, "controller": "traefik", "proxyBodySize": "512m"}})
    assert not any(NGINX_BODY_SIZE in (o["metadata"].get("annotations") or {}) for o in other)


def test_a_gce_ingress_should_carry_http_only_and_claim_no_http2_backend(render):
    """GKE Ingress reads cloud.google.com/app-protocols, where HTTP2 means HTTP/2 over TLS to the
    pod; Triton's gRPC port is cleartext, and the controller accepts no cleartext (H2C) value."""
    objs = render({"ingress": {"enabled": True, "controller": "gce", "grpc": {"enabled": False}},
                   "networkPolicy": {"extraIngress": LB_RULE}})
    assert [o["metadata"]["name"] for o in objs if o["kind"] == "Ingress"] == ["triton-http"]
    for obj in objs:
        assert "cloud.google.com/app-protocols" not in (obj["metadata"].get("annotations") or {}), obj["metadata"]["name"]


def test_the_ingresses_should_route_hosts_to_the_right_ports(render, scenario_values):
    objs = render(scenario_values["ingress-gateway-canary-values"])
    http, grpc = find(objs, "Ingress", "triton-http"), find(objs, "Ingress", "triton-grpc")
    assert http["spec"]["rules"][0]["host"] == "triton.example.com"
    assert http["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {"name": "triton", "port": {"name": "http"}}
    assert grpc["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] == {"name": "triton-grpc", "port": {"name": "grpc"}}
    assert http["spec"]["ingressClassName"] == "nginx" and http["spec"]["tls"][0]["secretName"] == "triton-tls"


def test_ingress_canary_should_mark_this_release_as_the_nginx_canary(render):
    objs = render({"ingress": {"enabled": True, "canary": {"enabled": True, "weight": 25, "header": "x-canary"}}})
    for name in ("triton-http", "triton-grpc"):
        ann = find(objs, "Ingress", name)["metadata"]["annotations"]
        assert ann["nginx.ingress.kubernetes.io/canary"] == "true"
        assert ann["nginx.ingress.kubernetes.io/canary-weight"] == "25"
        assert ann["nginx.ingress.kubernetes.io/canary-by-header"] == "x-canary"


def test_gateway_canary_should_split_http_and_grpc_routes_by_weight(render, scenario_values):
    objs = render(scenario_values["ingress-gateway-canary-values"])
    for kind, port in (("HTTPRoute", 8000), ("GRPCRoute", 8001)):
        route = find(objs, kind)
        assert route["spec"]["parentRefs"] == [{"name": "inference-gateway", "namespace": "gateway-system"}]
        refs = route["spec"]["rules"][0]["backendRefs"]
        assert refs == [{"name": "triton", "port": port, "weight": 90}, {"name": "triton-canary", "port": port, "weight": 10}]


def test_gateway_routes_without_canary_should_send_everything_to_this_release(render):
    objs = render({"gateway": {"enabled": True, "parentRefs": [{"name": "gw"}]}})
    assert find(objs, "GRPCRoute")["spec"]["rules"][0]["backendRefs"] == [{"name": "triton", "port": 8001, "weight": 100}]
    assert find(objs, "GRPCRoute")["spec"]["rules"][0]["matches"][0]["method"]["service"] == "inference.GRPCInferenceService"


# ------------------------------------------------------------------ autoscaling

def test_autoscaling_should_leave_replicas_to_the_hpa(render, scenario_values):
    assert find(render({"replicaCount": 3}), "Deployment")["spec"]["replicas"] == 3
    assert "replicas" not in find(render(scenario_values["autoscaling-adapter-values"]), "Deployment")["spec"]


def test_the_hpa_should_scale_on_the_metric_name_prometheus_adapter_serves(render, scenario_values):
    objs = render(scenario_values["autoscaling-adapter-values"])
    hpa = find(objs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    metric = hpa["spec"]["metrics"][0]
    assert metric["type"] == "Pods"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "20000"}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 8)
    # The adapter rules shipped in k8s/ turn the recorded series into this exact name.
    served = adapter_names(recorded_series(objs))
    assert metric["pods"]["metric"]["name"] in served


@pytest.mark.parametrize("metric, name, target", [
    ("queueTimePerRequest", "triton_queue_time_per_request_us", "50000"),
    ("queueComputeRatio", "triton_queue_compute_ratio", "1"),
    ("gpuUtilization", "triton_gpu_utilization", "0.8"),
])
def test_each_autoscaling_metric_should_map_to_a_served_custom_metric(render, scenario_values, metric, name, target):
    values = dict(scenario_values["autoscaling-adapter-values"])
    values["autoscaling"] = {**values["autoscaling"], "metric": metric, "targets": {}}
    objs = render(values)
    m = find(objs, "HorizontalPodAutoscaler")["spec"]["metrics"][0]["pods"]
    assert m["metric"]["name"] == name and m["target"]["averageValue"] == target
    assert name in adapter_names(recorded_series(objs))


def recorded_series(objs):
    rule = find(objs, "PrometheusRule")
    return [r["record"] for g in rule["spec"]["groups"] for r in g["rules"] if "record" in r]


def adapter_names(series):
    """Apply the prometheus-adapter rules of k8s/prometheus-adapter/values.yaml to series names."""
    import re

    rules = yaml.safe_load((helm_engine.ROOT / "k8s" / "prometheus-adapter" / "values.yaml").read_text())["rules"]["custom"]
    names = set()
    for rule in rules:
        query = re.search(r'__name__=~"([^"]+)"', rule["seriesQuery"]).group(1)
        for s in series:
            if re.fullmatch(query, s):
                m = re.match(rule["name"]["matches"], s)
                if m:
                    names.add(re.sub(r"\$\{(\d+)\}", lambda g: m.group(int(g.group(1))), rule["name"]["as"]))
        assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
    return names


def test_recording_rules_should_keep_the_namespace_and_pod_labels_the_adapter_maps(render, scenario_values):
    rule = find(render(scenario_values["autoscaling-adapter-values"]), "PrometheusRule")
    assert rule["spec"]["groups"][0]["rules"], "no recording rules"
    for r in rule["spec"]["groups"][0]["rules"]:
        assert "namespace, pod" in r["expr"]
        assert 'namespace="triton",app_kubernetes_io_instance="triton"' in r["expr"]


def test_prometheus_adapter_autoscaling_should_render_the_recording_rules_even_without_alerts(render, scenario_values):
    values = json.loads(json.dumps(scenario_values["autoscaling-adapter-values"]))
    values["metrics"]["prometheusRule"]["alerts"] = {"enabled": False}
    groups = find(render(values), "PrometheusRule")["spec"]["groups"]
    assert [g["name"] for g in groups] == ["triton.recording"]


def test_keda_should_query_prometheus_for_the_fleet_metric_with_behavior(render, scenario_values):
    objs = render(scenario_values["keda-values"])
    assert "HorizontalPodAutoscaler" not in kinds(objs)
    so = find(objs, "ScaledObject")
    trig = so["spec"]["triggers"][0]
    assert trig["type"] == "prometheus" and trig["metricType"] == "Value"
    assert trig["metadata"]["serverAddress"] == "http://prometheus-operated.monitoring.svc:9090"
    assert "nv_inference_queue_duration_us" in trig["metadata"]["query"]
    assert "nv_inference_compute_infer_duration_us" in trig["metadata"]["query"]
    assert 'namespace="triton"' in trig["metadata"]["query"]
    assert so["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == 30
    assert (so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]) == (1, 6)


@pytest.mark.parametrize("target", ["0.05", "0.5", "20000", "00.10"])
def test_a_positive_autoscaling_target_should_reach_the_hpa_and_keda(render, scenario_values, target):
    from crd_validation import go_parse_float

    adapter = json.loads(json.dumps(scenario_values["autoscaling-adapter-values"]))
    adapter["autoscaling"].update(metric="queueComputeRatio", targets={"queueComputeRatio": target})
    hpa = find(render(adapter), "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == target
    keda = json.loads(json.dumps(scenario_values["keda-values"]))
    keda["autoscaling"].update(metric="queueComputeRatio", targets={"queueComputeRatio": target})
    trigger = find(render(keda), "ScaledObject")["spec"]["triggers"][0]
    assert go_parse_float(trigger["metadata"]["threshold"]) == float(target) > 0


def test_keda_activation_threshold_should_reach_the_prometheus_trigger_as_a_string(render, scenario_values):
    from crd_validation import go_parse_float

    values = json.loads(json.dumps(scenario_values["keda-values"]))
    values["autoscaling"]["keda"]["activationThreshold"] = "2.5"
    meta = find(render(values), "ScaledObject")["spec"]["triggers"][0]["metadata"]
    assert meta["activationThreshold"] == "2.5"
    # by default KEDA's own default: active as soon as the metric is above 0
    default = find(render(scenario_values["keda-values"]), "ScaledObject")["spec"]["triggers"][0]["metadata"]
    assert isinstance(default["activationThreshold"], str) and go_parse_float(default["activationThreshold"]) == 0


# ------------------------------------------------------------------ monitoring

def test_the_service_monitor_should_relabel_series_with_the_release_labels(render, scenario_values):
    sm = find(render(scenario_values["autoscaling-adapter-values"]), "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    ep = sm["spec"]["endpoints"][0]
    assert ep["port"] == "metrics" and ep["interval"] == "15s"
    targets = {r["targetLabel"] for r in ep["relabelings"]}
    assert {"app_kubernetes_io_instance", "app_kubernetes_io_name", "namespace", "pod"} <= targets


def test_the_pod_monitor_should_scrape_the_metrics_port(render, scenario_values):
    pm = find(render(scenario_values["keda-values"]), "PodMonitor")
    assert pm["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


def monitor_endpoint(objs, monitor):
    kind, key = {"serviceMonitor": ("ServiceMonitor", "endpoints"), "podMonitor": ("PodMonitor", "podMetricsEndpoints")}[monitor]
    return find(objs, kind)["spec"][key][0]


# Prometheus's scrape_timeout defaults to 10s and must not exceed scrape_interval: the Prometheus
# Operator drops a monitor whose scrapeTimeout is longer than its interval.
PROMETHEUS_DEFAULT_SCRAPE_TIMEOUT = 10.0


@pytest.mark.parametrize("monitor", ["serviceMonitor", "podMonitor"])
@pytest.mark.parametrize("interval", ["2s", "5s", "10s", "15s", "30s"])
def test_the_scrape_timeout_should_default_to_the_smaller_of_10s_and_the_interval(render, monitor, interval):
    objs = render({"metrics": {"rateWindow": "2m", monitor: {"enabled": True, "interval": interval}}})
    ep = monitor_endpoint(objs, monitor)
    assert ep["interval"] == interval
    timeout = promkit.seconds(ep["scrapeTimeout"])  # a PodMonitor without one would get Prometheus's global 10s
    assert timeout <= promkit.seconds(interval)
    assert timeout == min(PROMETHEUS_DEFAULT_SCRAPE_TIMEOUT, promkit.seconds(interval))


@pytest.mark.parametrize("monitor", ["serviceMonitor", "podMonitor"])
def test_an_explicit_scrape_timeout_within_the_interval_should_be_kept(render, monitor):
    objs = render({"metrics": {"rateWindow": "2m", monitor: {"enabled": True, "interval": "30s", "scrapeTimeout": "20s"}}})
    assert monitor_endpoint(objs, monitor)["scrapeTimeout"] == "20s"


def test_the_alerts_should_cover_server_down_models_not_ready_queue_time_and_failures(render):
    rule = find(render({"metrics": {"prometheusRule": {"enabled": True, "alerts": {"labels": {"team": "ml"}}}}}), "PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r}
    assert set(alerts) == {"TritonServerDown", "TritonModelsNotReady", "TritonQueueTimeHigh", "TritonRequestFailures"}
    assert "> 100000" in alerts["TritonQueueTimeHigh"]["expr"]
    assert "> 0.05" in alerts["TritonRequestFailures"]["expr"]
    assert all(a["labels"]["team"] == "ml" for a in alerts.values())


def dashboard_config_map(objs):
    """The one ConfigMap the Grafana sidecar picks up (by its label), and its dashboard JSON."""
    cms = [o for o in objs if o["kind"] == "ConfigMap" and "grafana_dashboard" in o["metadata"]["labels"]]
    assert len(cms) == 1, [o["metadata"]["name"] for o in cms]
    (key, text), = cms[0]["data"].items()
    return cms[0], key, json.loads(text)


def test_the_dashboard_should_be_a_config_map_with_the_sidecar_label_and_valid_json(render, scenario_values):
    cm, key, dashboard = dashboard_config_map(render(scenario_values["autoscaling-adapter-values"]))
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["annotations"]["grafana_folder"] == "Triton"
    assert key.endswith(".json") and len(dashboard["panels"]) >= 10
    shipped = json.loads((helm_engine.CHART / "files" / "dashboard.json").read_text())
    assert dashboard["panels"] == shipped["panels"] and dashboard["templating"] == shipped["templating"]


GRAFANA_UID_MAX = 40  # Grafana refuses a dashboard uid longer than 40 characters


def test_two_releases_dashboards_in_one_namespace_should_not_collide(render):
    """Release `triton` in team-a and in team-b, both shipping the dashboard to `monitoring`: the
    ConfigMaps, the files the sidecar writes (data keys), the Grafana uids and titles all differ."""
    values = {"metrics": {"dashboard": {"enabled": True, "namespace": "monitoring"}}}
    a, b = (dashboard_config_map(render(values, name="triton", namespace=ns)) for ns in ("team-a", "team-b"))
    assert a[0]["metadata"]["namespace"] == b[0]["metadata"]["namespace"] == "monitoring"
    assert a[0]["metadata"]["name"] != b[0]["metadata"]["name"]
    assert a[1] != b[1]
    assert a[2]["uid"] != b[2]["uid"] and a[2]["title"] != b[2]["title"]
    assert all(len(d[2]["uid"]) <= GRAFANA_UID_MAX for d in (a, b))


def test_the_dashboard_uid_should_be_stable_per_release_and_fit_grafanas_limit_for_the_longest_names(render):
    values = {"metrics": {"dashboard": {"enabled": True, "namespace": "monitoring"}}}
    namespace, release = "n" * 63, "r" * 53  # the longest a namespace and a release name can be
    first = dashboard_config_map(render(values, name=release, namespace=namespace))
    again = dashboard_config_map(render(values, name=release, namespace=namespace))
    assert first[2]["uid"] == again[2]["uid"] and first[0]["metadata"]["name"] == again[0]["metadata"]["name"]
    assert len(first[2]["uid"]) <= GRAFANA_UID_MAX and len(first[0]["metadata"]["name"]) <= 63
    # names that differ only past any truncation still get their own uid and ConfigMap
    other = dashboard_config_map(render(values, name=release[:-1] + "x", namespace=namespace))
    assert other[2]["uid"] != first[2]["uid"] and other[0]["metadata"]["name"] != first[0]["metadata"]["name"]
    # hyphens cannot make two releases look alike: namespace a-b + release c versus namespace a + release b-c
    ab_c = dashboard_config_map(render(values, name="c-triton", namespace="a-b"))
    a_bc = dashboard_config_map(render(values, name="b-c-triton", namespace="a"))
    assert ab_c[1] != a_bc[1] and ab_c[2]["uid"] != a_bc[2]["uid"]


def test_scrape_annotations_should_be_added_only_when_asked(render):
    ann = find(render({"metrics": {"scrapeAnnotations": True}}), "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == "8002"


def test_metrics_disabled_should_close_the_metrics_port(render):
    objs = render({"metrics": {"enabled": False}})
    assert "--allow-metrics=false" in args_of(objs)
    assert "metrics" not in {p["name"] for p in find(objs, "Service", "triton")["spec"]["ports"]}


# ------------------------------------------------------------------ TensorRT engine builds

def test_engine_build_should_run_trtexec_from_the_tensorrt_image_before_triton(render, scenario_values):
    objs = render(scenario_values["engine-build-values"])
    inits = pod_spec(objs)["initContainers"]
    assert [i["name"] for i in inits] == ["sync-model-repository", "build-engines"]
    build = inits[1]
    assert build["image"] == "nvcr.io/nvidia/tensorrt:25.10-py3"
    assert build["resources"]["limits"] == {"nvidia.com/gpu": 1}
    env = env_of(build)
    assert env["ENGINE_CACHE"]["value"] == "/engines/cache" and env["TRTEXEC_ARGS"]["value"] == "--fp16"
    assert "--model-repository=/engines/repository" in args_of(objs)
    assert volumes_of(objs)["engine-cache"]["persistentVolumeClaim"]["claimName"] == "triton-engine-cache"
    cm = find(objs, "ConfigMap", "triton-engine-build")
    assert cm["data"]["build_engines.sh"] == (helm_engine.CHART / "files" / "build_engines.sh").read_text().rstrip("\n")
    assert cm["data"]["models.txt"].strip() == (
        "digits --minShapes=image:1x1x28x28 --optShapes=image:16x1x28x28 --maxShapes=image:64x1x28x28")


def test_engine_build_cache_should_default_to_an_empty_dir(render):
    objs = render({"engineBuild": {"enabled": True}, "modelRepository": {"source": "nfs", "nfs": {"server": "s", "path": "/p"}}})
    assert volumes_of(objs)["engine-cache"]["emptyDir"]["sizeLimit"] == "20Gi"
    claims = [o["metadata"]["name"] for o in objs if o["kind"] == "PersistentVolumeClaim"]
    assert claims == ["triton-nfs"]  # the repository's claim only, no engine cache claim


# ------------------------------------------------------------------ helm test and NOTES

def test_helm_test_should_run_a_smoke_inference_from_the_sdk_image(render):
    inputs = [{"name": "x", "datatype": "FP32", "shape": [1, 10], "data": list(range(10))}]
    objs = render({"tests": {"model": "linear", "modelVersion": "1", "inputs": inputs}})
    pod = find(objs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    c = pod["spec"]["containers"][0]
    assert c["image"] == "nvcr.io/nvidia/tritonserver:25.10-py3-sdk"
    env = env_of(c)
    assert env["TRITON_HOST"]["value"] == "triton.triton.svc"
    assert env["TEST_MODEL"]["value"] == "linear" and env["TEST_MODEL_VERSION"]["value"] == "1"
    assert json.loads(env["TEST_INPUTS"]["value"]) == inputs
    script = find(objs, "ConfigMap", "triton-test")["data"]["smoke_test.py"]
    assert "tritonclient.grpc" in script and "tritonclient.http" in script
    # the script imports the generated wire module, mounted beside it from the same ConfigMap
    wire = find(objs, "ConfigMap", "triton-test")["data"]["triton_wire.py"]
    assert "from triton_wire import" in script
    assert wire == (helm_engine.CHART / "files" / "triton_wire.py").read_text().rstrip("\n")
    assert "Pod" not in kinds(render({"tests": {"enabled": False}}))


def test_the_helm_test_pod_should_send_the_header_with_the_servers_key(render):
    objs = render({})
    _, header, value = restrictions(triton_container(objs))["--http-restricted-api"]
    env = env_of(find(objs, "Pod")["spec"]["containers"][0])
    assert env["RESTRICTED_API_HEADER"]["value"] == header
    assert env["RESTRICTED_API_KEY"]["valueFrom"]["secretKeyRef"] == key_reference(triton_container(objs), value)


def test_notes_should_send_the_key_to_the_restricted_repository_index(render):
    objs = render({})
    _, header, value = restrictions(triton_container(objs))["--http-restricted-api"]
    ref = key_reference(triton_container(objs), value)
    notes = render({}, raw=True)["triton/templates/NOTES.txt"]
    index = next(line for line in notes.splitlines() if "/v2/repository/index" in line)
    assert f'-H "{header}: $TRITON_ADMIN_KEY"' in index
    assert f"kubectl -n triton get secret {ref['name']} -o jsonpath='{{.data.{ref['key']}}}' | base64 -d" in notes
    open_notes = render({"server": {"restrictedApis": {"apis": []}}}, raw=True)["triton/templates/NOTES.txt"]
    assert "TRITON_ADMIN_KEY" not in open_notes and "/v2/repository/index" in open_notes


@pytest.mark.parametrize("values, expected", [
    ({}, "kubectl -n triton port-forward svc/triton 8000:8000 8001:8001"),
    ({"service": {"type": "LoadBalancer"}, "networkPolicy": {"extraIngress": LB_RULE}}, "status.loadBalancer.ingress[0].ip"),
    ({"service": {"type": "NodePort"}, "networkPolicy": {"extraIngress": LB_RULE}}, '.spec.ports[?(@.name=="grpc")].nodePort'),
    ({"ingress": {"enabled": True}}, "export TRITON_HTTP=http://triton.example.com"),
    ({"gateway": {"enabled": True, "parentRefs": [{"name": "gw", "namespace": "gws"}]}}, "kubectl -n gws get gateway gw"),
])
def test_notes_should_give_pasteable_commands_for_each_way_in(render, values, expected):
    notes = render(values, raw=True)["triton/templates/NOTES.txt"]
    assert expected in notes
    assert "$TRITON_HTTP/v2/health/ready" in notes and "/v2/models/linear/infer" in notes


def test_notes_should_show_the_command_that_proves_the_metric_reaches_the_hpa(render, scenario_values):
    notes = render(scenario_values["autoscaling-adapter-values"], raw=True)["triton/templates/NOTES.txt"]
    assert 'kubectl get --raw "/apis/custom.metrics.k8s.io/v1beta1/namespaces/triton/pods/*/triton_queue_time_per_request_us"' in notes


# ------------------------------------------------------------------ common

def test_common_labels_and_annotations_should_reach_every_object(render):
    for obj in render({"commonLabels": {"team": "ml"}, "commonAnnotations": {"owner": "ml@example.com"}}):
        assert obj["metadata"]["labels"]["team"] == "ml"
        if "helm.sh/hook" not in (obj["metadata"].get("annotations") or {}):
            assert obj["metadata"]["annotations"]["owner"] == "ml@example.com", obj["kind"]


def test_fullname_override_should_name_every_object(render):
    names = {o["metadata"]["name"] for o in render({"fullnameOverride": "inference"})}
    assert all(n.startswith("inference") for n in names), names
