"""Custom resources checked against the official CRD schemas, and KEDA's numeric trigger metadata
parsed the way KEDA parses it.

The schemas come from the npm packages @kubernetes-models/{prometheus-operator,keda,gateway-api}
(pinned in crd-schemas/package.json, installed by `make crd-schemas`, a prerequisite of
`make test`). They are generated from the upstream CRD YAML and ship as compiled validators,
not as JSON, so crd-schemas/validate.mjs runs them under Node; it also reports fields a schema
does not declare, as the API server's strict field validation does.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

CRD_SCHEMAS = Path(__file__).resolve().parent / "crd-schemas"
CUSTOM_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"), ("monitoring.coreos.com/v1", "PodMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"), ("keda.sh/v1alpha1", "ScaledObject"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"), ("gateway.networking.k8s.io/v1", "GRPCRoute"),
}

# KEDA reads these trigger metadata values into float64 fields (pkg/scalers/prometheus_scaler.go,
# `Threshold float64 keda:"name=threshold"`), through strconv.ParseFloat.
KEDA_FLOAT_METADATA = {"prometheus": ("threshold", "activationThreshold")}

# strconv.ParseFloat's accepted syntax (decimal and hexadecimal floats, inf, nan; an underscore
# only after a base prefix, no spaces). Kubernetes quantities such as "500m" are not in it.
_DEC = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_HEX = r"[+-]?0[xX](?:[0-9a-fA-F_]+\.?[0-9a-fA-F_]*|\.[0-9a-fA-F_]+)[pP][+-]?\d+"
_SPECIAL = r"[+-]?(?:[iI][nN][fF](?:[iI][nN][iI][tT][yY])?)|[nN][aA][nN]"
_GO_FLOAT = re.compile(rf"(?:{_DEC}|{_HEX}|{_SPECIAL})")


def go_parse_float(text: str) -> float:
    """The value strconv.ParseFloat(text, 64) returns; ValueError where it returns an error."""
    if not isinstance(text, str) or not _GO_FLOAT.fullmatch(text):
        raise ValueError(f"strconv.ParseFloat: parsing {text!r}: invalid syntax")
    if text.lower().lstrip("+-").startswith("0x"):
        sign = -1.0 if text.startswith("-") else 1.0
        return sign * float.fromhex(text.lstrip("+-").replace("_", ""))
    return float(text)


def keda_metadata_errors(obj: dict) -> list[str]:
    """Trigger metadata values KEDA would refuse to parse as numbers."""
    errors = []
    for i, trigger in enumerate(obj["spec"].get("triggers", [])):
        for key in KEDA_FLOAT_METADATA.get(trigger["type"], ()):
            if key in trigger.get("metadata", {}):
                try:
                    go_parse_float(trigger["metadata"][key])
                except ValueError as err:
                    errors.append(f"/spec/triggers/{i}/metadata/{key}: {err}")
    return errors


def validate(objects: list[dict]) -> dict[tuple[str, str], list[str]]:
    """{(kind, name): [errors]} for every custom resource in `objects`, from the official schemas."""
    node = shutil.which("node")
    if node is None or not (CRD_SCHEMAS / "node_modules").is_dir():
        raise RuntimeError("the official CRD schemas are not installed: run `make crd-schemas` "
                           "(needs Node.js and npm; as root: apt-get install -y nodejs npm)")
    custom = [o for o in objects if (o["apiVersion"], o["kind"]) in CUSTOM_KINDS]
    proc = subprocess.run([node, str(CRD_SCHEMAS / "validate.mjs")], input=json.dumps(custom),
                          capture_output=True, text=True, cwd=CRD_SCHEMAS, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"validate.mjs failed: {proc.stderr}")
    results = {(r["kind"], r["name"]): r["errors"] for r in json.loads(proc.stdout)}
    for obj in custom:
        if obj["kind"] == "ScaledObject":
            results[(obj["kind"], obj["metadata"]["name"])] += keda_metadata_errors(obj)
    return results
