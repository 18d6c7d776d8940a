"""Invalid values are refused at render time, with a message naming the value and the fix."""

from __future__ import annotations

import helm_python
import pytest

NFS = {"source": "nfs", "nfs": {"server": "nfs", "path": "/m"}}

# (id, values, fragments the message must contain)
INVALID_COMBINATIONS = [
    ("mig and whole gpus together", {"gpu": {"mig": {"profile": "1g.10gb"}}},
     ["gpu.mig.profile=1g.10gb", "gpu.count=1", "Set gpu.count=0"]),
    ("several mig slices for one triton process", {"gpu": {"count": 0, "mig": {"profile": "1g.10gb", "count": 2}}},
     ["gpu.mig.count=2", "one MIG device", "replicas"]),
    ("mig single strategy without the gpu product", {"gpu": {"count": 0, "mig": {"profile": "1g.10gb", "strategy": "single"}}},
     ["gpu.mig.strategy=single", "gpu.products", "-MIG-1g.10gb"]),
    ("gpu mode asking for no gpu", {"gpu": {"count": 0}}, ["gpu.count=0", "gpu.enabled=false"]),
    ("mig in cpu-only mode", {"gpu": {"enabled": False, "mig": {"profile": "1g.10gb"}}}, ["gpu.mig.profile=1g.10gb", "gpu.enabled=false"]),
    ("gpu products with a hand-written node affinity",
     {"gpu": {"products": ["NVIDIA-L4"]}, "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
         "nodeSelectorTerms": [{"matchExpressions": [{"key": "pool", "operator": "In", "values": ["gpu"]}]}]}}}}, ["gpu.products", "affinity.nodeAffinity"]),
    ("s3 without a url", {"modelRepository": {"source": "s3"}}, ["modelRepository.source=s3", "modelRepository.s3.url"]),
    ("gcs without a url", {"modelRepository": {"source": "gcs"}}, ["modelRepository.gcs.url", "gs://"]),
    ("azure without a url", {"modelRepository": {"source": "azure", "azure": {"existingSecret": "a"}}}, ["modelRepository.azure.url", "as://"]),
    ("sync without a url", {"modelRepository": {"source": "sync"}}, ["modelRepository.sync.url"]),
    ("nfs without a server", {"modelRepository": {"source": "nfs", "nfs": {"path": "/m"}}}, ["modelRepository.nfs.server"]),
    ("nfs server named by cluster dns", {"modelRepository": {"source": "nfs", "nfs": {
        "server": "nfs.storage.svc.cluster.local", "path": "/m"}}},
     ["modelRepository.nfs.server=nfs.storage.svc.cluster.local", "node's own resolver", "ClusterIP"]),
    ("s3 with irsa and a secret", {"modelRepository": {"source": "s3", "s3": {"url": "s3://b/m", "existingSecret": "k",
                                                                           "irsaRoleArn": "arn:aws:iam::123456789012:role/r"}}},
     ["irsaRoleArn", "existingSecret", "choose one"]),
    ("irsa without a chart service account", {"serviceAccount": {"create": False}, "modelRepository": {
        "source": "s3", "s3": {"url": "s3://b/m", "irsaRoleArn": "arn:aws:iam::123456789012:role/r"}}},
     ["serviceAccount.create=false", "eks.amazonaws.com/role-arn"]),
    ("gcs with workload identity and a secret", {"modelRepository": {"source": "gcs", "gcs": {
        "url": "gs://b/m", "existingSecret": "k", "workloadIdentityServiceAccount": "a@p.iam.gserviceaccount.com"}}},
     ["workloadIdentityServiceAccount", "choose one"]),
    ("workload identity without a chart service account", {"serviceAccount": {"create": False}, "modelRepository": {
        "source": "gcs", "gcs": {"url": "gs://b/m", "workloadIdentityServiceAccount": "a@p.iam.gserviceaccount.com"}}},
     ["serviceAccount.create=false", "iam.gke.io/gcp-service-account"]),
    ("azure without a secret", {"modelRepository": {"source": "azure", "azure": {"url": "as://a/c"}}},
     ["modelRepository.azure.existingSecret", "AZURE_STORAGE_KEY"]),
    ("a surge pod on a read-write-once repository", {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {
        "maxSurge": 1, "maxUnavailable": 0}}}, ["updateStrategy.rollingUpdate.maxSurge=1", "ReadWriteOnce", "maxSurge=0"]),
    ("a budget that keeps the only replica", {"pdb": {"minAvailable": 1}},
     ["pdb.minAvailable=1", "all 1 replica(s)", "drain"]),
    ("a percentage budget that keeps every replica", {"replicaCount": 3, "pdb": {"minAvailable": "90%"}},
     ["pdb.minAvailable=90%", "all 3 replica(s)"]),
    ("a budget that keeps the autoscaler's minimum", {"autoscaling": {
        "enabled": True, "metricsSource": "prometheus-adapter", "minReplicas": 2}, "pdb": {"minAvailable": 2}},
     ["pdb.minAvailable=2", "all 2 replica(s)"]),
    ("a budget with no eviction", {"pdb": {"maxUnavailable": 0}}, ["pdb.maxUnavailable=0", "pdb.enabled=false"]),
    ("load models outside explicit mode", {"server": {"loadModels": ["digits"]}}, ["server.loadModels", "explicit"]),
    ("health restricted while the kubelet probes it", {"server": {"restrictedApis": {"apis": ["health", "model-repository"]}}},
     ["server.restrictedApis.apis", "health", "probes", "without the key"]),
    ("a grace period shorter than the drain", {"terminationGracePeriodSeconds": 20},
     ["terminationGracePeriodSeconds=20", "= 40", "at least 40"]),
    ("python shm larger than /dev/shm", {"shm": {"sizeLimit": "64Mi"}, "pythonBackend": {"shmDefaultByteSize": 134217728}},
     ["pythonBackend.shmDefaultByteSize=134217728", "shm.sizeLimit=64Mi"]),
    ("service and pod monitors together", {"metrics": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True}}},
     ["scraped twice"]),
    ("a service monitor timeout longer than its interval",
     {"metrics": {"serviceMonitor": {"enabled": True, "interval": "5s", "scrapeTimeout": "10s"}}},
     ["metrics.serviceMonitor.scrapeTimeout=10s", "metrics.serviceMonitor.interval=5s", "drops", "at most 5s"]),
    ("a pod monitor timeout longer than its interval",
     {"metrics": {"podMonitor": {"enabled": True, "interval": "15s", "scrapeTimeout": "20s"}}},
     ["metrics.podMonitor.scrapeTimeout=20s", "metrics.podMonitor.interval=15s", "drops", "at most 15s"]),
    ("a service monitor behind a load balancer without the headless service",
     {"service": {"type": "LoadBalancer", "headless": {"enabled": False}}, "metrics": {"serviceMonitor": {"enabled": True}},
      "networkPolicy": {"extraIngress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}},
     ["service.type=LoadBalancer", "service.headless.enabled=false", "metrics.serviceMonitor", "metrics.podMonitor.enabled=true"]),
    ("monitoring with metrics off", {"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}}, ["metrics.enabled=false"]),
    ("autoscaling without a metrics source", {"autoscaling": {"enabled": True}},
     ["autoscaling.metricsSource=prometheus-adapter", "autoscaling.metricsSource=keda"]),
    ("keda without a prometheus address", {"autoscaling": {"enabled": True, "metricsSource": "keda"}},
     ["autoscaling.keda.serverAddress"]),
    ("prometheus-adapter with nothing scraping triton", {"autoscaling": {"enabled": True, "metricsSource": "prometheus-adapter"}},
     ["metrics.serviceMonitor.enabled=true", "metrics.scrapeAnnotations=true"]),
    ("min replicas above max", {"autoscaling": {"enabled": True, "metricsSource": "keda", "minReplicas": 5, "maxReplicas": 2,
                                                "keda": {"serverAddress": "http://p:9090"}}},
     ["autoscaling.minReplicas=5", "autoscaling.maxReplicas=2"]),
    # scale to zero: Triton's metrics come from its own pods, so at 0 replicas no series exists and
    # neither KEDA's activation nor the HPA could ever bring the first pod back
    ("scale to zero with keda", {"autoscaling": {"enabled": True, "metricsSource": "keda", "minReplicas": 0,
                                                 "keda": {"serverAddress": "http://p:9090"}}},
     ["autoscaling.minReplicas=0", "no Triton pod", "never activate", "minReplicas=1", "HTTP add-on"]),
    ("scale to zero through prometheus-adapter", {"autoscaling": {"enabled": True, "metricsSource": "prometheus-adapter",
                                                                  "minReplicas": 0},
                                                  "metrics": {"serviceMonitor": {"enabled": True}}},
     ["autoscaling.minReplicas=0", "no Triton pod", "minReplicas=1"]),
    ("gpu utilisation autoscaling on cpu", {"gpu": {"enabled": False}, "autoscaling": {
        "enabled": True, "metricsSource": "keda", "metric": "gpuUtilization", "keda": {"serverAddress": "http://p:9090"}}},
     ["autoscaling.metric=gpuUtilization", "queueTimePerRequest"]),
    ("ingress canary on a non-nginx controller", {"ingress": {"enabled": True, "controller": "traefik", "canary": {"enabled": True}}},
     ["ingress.canary.enabled=true", "ingress.controller=traefik", "gateway.canary"]),
    ("a grpc ingress on gke ingress", {"ingress": {"enabled": True, "controller": "gce"},
                                       "networkPolicy": {"extraIngress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}},
     ["ingress.controller=gce", "ingress.grpc.enabled=true", "over TLS", "H2C", "gateway.enabled=true", "ingress.grpc.enabled=false"]),
    ("gateway without parents", {"gateway": {"enabled": True}}, ["gateway.parentRefs"]),
    ("gateway canary without a service", {"gateway": {"enabled": True, "parentRefs": [{"name": "g"}], "canary": {"enabled": True}}},
     ["gateway.canary.service"]),
    ("gateway canary pointing at itself", {"gateway": {"enabled": True, "parentRefs": [{"name": "g"}],
                                                       "canary": {"enabled": True, "service": "triton"}}},
     ["this release's own Service"]),
    ("test inputs without a test model", {"tests": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [1]}]}},
     ["tests.inputs", "tests.model"]),
    ("engine build on cpu", {"gpu": {"enabled": False}, "engineBuild": {"enabled": True}, "modelRepository": NFS},
     ["engineBuild.enabled=true", "gpu.enabled=false"]),
    ("engine build from object storage", {"engineBuild": {"enabled": True},
                                          "modelRepository": {"source": "s3", "s3": {"url": "s3://b/m"}}},
     ["engineBuild.enabled=true", "modelRepository.source=s3", "modelRepository.source=sync"]),
]


@pytest.mark.parametrize("values, fragments", [pytest.param(v, f, id=i) for i, v, f in INVALID_COMBINATIONS])
def test_an_invalid_combination_should_fail_helm_template_naming_the_value_and_the_fix(render, values, fragments):
    with pytest.raises(helm_python.HelmRenderError) as err:
        render(values)
    message = str(err.value)
    assert "VALUES VALIDATION" in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message}"


def test_every_invalid_combination_should_be_reported_at_once(render):
    with pytest.raises(helm_python.HelmRenderError) as err:
        render({"gpu": {"mig": {"profile": "1g.10gb"}}, "autoscaling": {"enabled": True}, "gateway": {"enabled": True}})
    assert str(err.value).count("triton: ") == 3


# (id, values, fragment of the schema error: the path and the constraint)
SCHEMA_VIOLATIONS = [
    ("an unknown top-level key", {"replicas": 2}, "additional properties 'replicas' not allowed"),
    ("an unknown nested key", {"gpu": {"type": "a100"}}, "additional properties 'type' not allowed"),
    ("a misspelt probe key", {"probes": {"startup": {"failureThreshold": 3}}}, "additional properties 'failureThreshold'"),
    ("a bad pull policy", {"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ("a bad digest", {"image": {"digest": "latest"}}, "/image/digest"),
    ("a bad service type", {"service": {"type": "External"}}, "/service/type"),
    ("a port out of range", {"service": {"ports": {"http": 70000}}}, "/service/ports/http"),
    ("a node port out of range", {"service": {"nodePorts": {"grpc": 8001}}}, "/service/nodePorts/grpc"),
    ("an unknown repository source", {"modelRepository": {"source": "hdfs"}}, "/modelRepository/source"),
    ("an s3 url without the scheme", {"modelRepository": {"s3": {"url": "https://bucket/m"}}}, "/modelRepository/s3/url"),
    ("a gcs url with the s3 scheme", {"modelRepository": {"gcs": {"url": "s3://bucket/m"}}}, "/modelRepository/gcs/url"),
    ("an irsa value that is not a role arn", {"modelRepository": {"s3": {"irsaRoleArn": "triton-role"}}}, "/modelRepository/s3/irsaRoleArn"),
    ("an unknown model control mode", {"server": {"modelControlMode": "auto"}}, "/server/modelControlMode"),
    ("a negative gpu count", {"gpu": {"count": -1}}, "/gpu/count"),
    ("a gpu count as text", {"gpu": {"count": "one"}}, "/gpu/count"),
    ("an unknown mig strategy", {"gpu": {"mig": {"strategy": "none"}}}, "/gpu/mig/strategy"),
    ("a malformed mig profile", {"gpu": {"mig": {"profile": "half"}}}, "/gpu/mig/profile"),
    ("a shm size in GB", {"shm": {"sizeLimit": "1GB"}}, "/shm/sizeLimit"),
    ("an unknown restricted api", {"server": {"restrictedApis": {"apis": ["admin"]}}}, "/server/restrictedApis/apis/0"),
    ("a restricted api listed twice", {"server": {"restrictedApis": {"apis": ["trace", "trace"]}}}, "/server/restrictedApis/apis"),
    ("an uppercase key header", {"server": {"restrictedApis": {"header": "X-Admin-Key"}}}, "/server/restrictedApis/header"),
    ("a startup budget under ten seconds", {"probes": {"startup": {"budgetSeconds": 5}}}, "/probes/startup/budgetSeconds"),
    ("an unknown autoscaling metric", {"autoscaling": {"metric": "cpu"}}, "/autoscaling/metric"),
    ("an unknown metrics source", {"autoscaling": {"metricsSource": "datadog"}}, "/autoscaling/metricsSource"),
    ("a target that is not a plain decimal", {"autoscaling": {"targets": {"queueTimePerRequest": "20ms"}}}, "/autoscaling/targets/queueTimePerRequest"),
    ("a zero autoscaling target", {"autoscaling": {"targets": {"queueTimePerRequest": "0"}}},
     "/autoscaling/targets/queueTimePerRequest"),
    ("a zero decimal autoscaling target", {"autoscaling": {"targets": {"queueComputeRatio": "0.00"}}},
     "/autoscaling/targets/queueComputeRatio"),
    ("a zero numeric autoscaling target", {"autoscaling": {"targets": {"gpuUtilization": 0}}}, "/autoscaling/targets/gpuUtilization"),
    ("a negative numeric autoscaling target", {"autoscaling": {"targets": {"gpuUtilization": -0.5}}},
     "/autoscaling/targets/gpuUtilization"),
    ("a keda activation threshold that is not a plain decimal", {"autoscaling": {"keda": {"activationThreshold": "1k"}}},
     "/autoscaling/keda/activationThreshold"),
    ("an unknown ingress controller", {"ingress": {"controller": "istio"}}, "/ingress/controller"),
    ("a canary weight above 100", {"gateway": {"canary": {"weight": 150}}}, "/gateway/canary/weight"),
    ("a scrape interval without a unit", {"metrics": {"serviceMonitor": {"interval": "15"}}}, "/metrics/serviceMonitor/interval"),
    ("an unknown engine cache type", {"engineBuild": {"cache": {"type": "hostPath"}}}, "/engineBuild/cache/type"),
    ("an engine model without a name", {"engineBuild": {"models": [{"minShapes": "x:1"}]}}, "/engineBuild/models/0"),
    ("a test model version that is not a number", {"tests": {"modelVersion": "latest"}}, "/tests/modelVersion"),
    ("a test input with an unknown datatype", {"tests": {"inputs": [{"name": "x", "datatype": "FLOAT", "shape": [1]}]}},
     "/tests/inputs/0/datatype"),
    ("a negative replica count", {"replicaCount": -1}, "/replicaCount"),
    ("an unknown spread policy", {"topologySpread": {"whenUnsatisfiable": "Never"}}, "/topologySpread/whenUnsatisfiable"),
    ("a failure ratio above one", {"metrics": {"prometheusRule": {"alerts": {"failureRatio": 5}}}}, "/metrics/prometheusRule/alerts/failureRatio"),
]


@pytest.mark.parametrize("values, fragment", [pytest.param(v, f, id=i) for i, v, f in SCHEMA_VIOLATIONS])
def test_a_schema_violation_should_be_refused_naming_the_key(chart, render, values, fragment):
    with pytest.raises(helm_python.HelmValuesError) as err:
        render(values)
    assert fragment in str(err.value), str(err.value)
    with pytest.raises(helm_python.HelmValuesError):
        chart.validate_schema(values)


@pytest.fixture(scope="module")
def render_without_schema(tmp_path_factory):
    """Render as `helm template --skip-schema-validation` does: the chart without values.schema.json."""
    import shutil

    import helm_engine

    copy = tmp_path_factory.mktemp("no-schema") / "triton"
    shutil.copytree(helm_engine.CHART, copy)
    (copy / "values.schema.json").unlink()
    chart = helm_python.Chart.load(str(copy))

    def _render(values):
        return chart.render(values, name=helm_engine.RELEASE, namespace=helm_engine.NAMESPACE)

    return _render


KEDA = {"enabled": True, "metricsSource": "keda", "keda": {"serverAddress": "http://p:9090"}}


@pytest.mark.parametrize("target", ["0", "0.0", 0, -1])
def test_a_non_positive_autoscaling_target_should_be_refused_at_render_time_even_without_the_schema(render_without_schema, target):
    with pytest.raises(helm_python.HelmRenderError) as err:
        render_without_schema({"autoscaling": {**KEDA, "metric": "queueComputeRatio", "targets": {"queueComputeRatio": target}}})
    message = str(err.value)
    assert "VALUES VALIDATION" in message
    assert f"autoscaling.targets.queueComputeRatio={target}" in message
    assert "averageValue" in message and "above 0" in message
