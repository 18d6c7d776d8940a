"""The custom resource definitions the chart's scenarios use, from their maintainers' own Go
modules at pinned versions (the module zips the Go proxy serves hold the released CRD YAML):
Prometheus Operator (ServiceMonitor, PodMonitor, PrometheusRule), KEDA (ScaledObject,
TriggerAuthentication) and Gateway API's standard channel (HTTPRoute, GRPCRoute, Gateway)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

# module, version, files inside the module (the versions the chart README's "Tested on" table names)
PINNED = [
    ("github.com/prometheus-operator/prometheus-operator", "v0.85.0",
     [f"example/prometheus-operator-crd/monitoring.coreos.com_{k}.yaml"
      for k in ("servicemonitors", "podmonitors", "prometheusrules", "probes", "scrapeconfigs")]),
    ("github.com/kedacore/keda/v2", "v2.21.0",
     [f"config/crd/bases/keda.sh_{k}.yaml"
      for k in ("scaledobjects", "scaledjobs", "triggerauthentications", "clustertriggerauthentications")]),
    ("sigs.k8s.io/gateway-api", "v1.6.3",
     [f"config/crd/standard/gateway.networking.k8s.io_{k}.yaml"
      for k in ("gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants")]),
]


def module_dir(module: str, version: str) -> Path:
    """The unpacked module in the Go module cache (downloaded once per machine)."""
    env = dict(os.environ, GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    result = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"], capture_output=True,
                            text=True, env=env, cwd="/")
    data = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in data:
        raise RuntimeError(f"go mod download {module}@{version} failed: {data.get('Error') or result.stderr.strip()}")
    return Path(data["Dir"])


def files() -> list[Path]:
    return [module_dir(module, version) / path for module, version, paths in PINNED for path in paths]


def install(kubectl) -> list[str]:
    """Apply every pinned CRD (server-side: the Prometheus Operator's exceed client-side apply's
    annotation limit) and wait until each is Established; returns their names."""
    paths = files()
    args = ["apply", "--server-side", "--force-conflicts"]
    for path in paths:
        args += ["-f", str(path)]
    kubectl(*args)
    names = [line.split("/", 1)[1] for line in kubectl("get", "-o", "name", *[a for p in paths for a in ("-f", str(p))])
             .stdout.split()]
    kubectl("wait", "--for=condition=Established", "--timeout=60s", *[f"crd/{n}" for n in names])
    return names
