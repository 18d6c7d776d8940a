"""Structural JSON schemas for the custom resources the chart renders.

kubernetes-validate ships the built-in API only; these follow the upstream CRDs
(prometheus-operator monitoring.coreos.com/v1, KEDA keda.sh/v1alpha1, Gateway API
gateway.networking.k8s.io/v1) for every field the chart uses, and refuse unknown fields,
so a misspelt key fails here as it would on `kubectl apply`.
"""

from __future__ import annotations

STR = {"type": "string"}
INT = {"type": "integer"}
STRMAP = {"type": "object", "additionalProperties": {"type": "string"}}
DURATION = {"type": "string", "pattern": "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"}


def obj(props, required=(), extra=False):
    d = {"type": "object", "properties": props, "additionalProperties": extra}
    if required:
        d["required"] = list(required)
    return d


META = obj({"name": {"type": "string", "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
            "namespace": STR, "labels": STRMAP, "annotations": STRMAP}, ["name"])
RELABEL = obj({"sourceLabels": {"type": "array", "items": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"}},
               "separator": STR, "targetLabel": STR, "regex": STR, "modulus": INT, "replacement": STR,
               "action": {"enum": ["replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep",
                                   "lowercase", "uppercase", "keepequal", "dropequal", "Replace", "Keep", "Drop",
                                   "HashMod", "LabelMap", "LabelDrop", "LabelKeep"]}})
SELECTOR = obj({"matchLabels": STRMAP, "matchExpressions": {"type": "array"}})
NS_SELECTOR = obj({"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": STR}})
ENDPOINT = {"port": STR, "path": STR, "scheme": STR, "interval": DURATION, "scrapeTimeout": DURATION,
            "honorLabels": {"type": "boolean"},
            "relabelings": {"type": "array", "items": RELABEL}, "metricRelabelings": {"type": "array", "items": RELABEL}}


def resource(api, kind, spec):
    return obj({"apiVersion": {"const": api}, "kind": {"const": kind}, "metadata": META, "spec": spec},
               ["apiVersion", "kind", "metadata", "spec"])


BACKEND_REF = obj({"name": STR, "namespace": STR, "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                   "weight": {"type": "integer", "minimum": 0, "maximum": 1000000}, "group": STR, "kind": STR}, ["name"])
PARENT_REF = obj({"name": STR, "namespace": STR, "sectionName": STR, "port": INT, "group": STR, "kind": STR}, ["name"])

SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): resource("monitoring.coreos.com/v1", "ServiceMonitor", obj({
        "selector": SELECTOR, "namespaceSelector": NS_SELECTOR, "jobLabel": STR,
        "targetLabels": {"type": "array"}, "podTargetLabels": {"type": "array"},
        "endpoints": {"type": "array", "minItems": 1, "items": obj(ENDPOINT)}}, ["selector", "endpoints"])),
    ("monitoring.coreos.com/v1", "PodMonitor"): resource("monitoring.coreos.com/v1", "PodMonitor", obj({
        "selector": SELECTOR, "namespaceSelector": NS_SELECTOR, "jobLabel": STR,
        "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": obj(ENDPOINT)}}, ["selector", "podMetricsEndpoints"])),
    ("monitoring.coreos.com/v1", "PrometheusRule"): resource("monitoring.coreos.com/v1", "PrometheusRule", obj({
        "groups": {"type": "array", "items": obj({
            "name": STR, "interval": DURATION,
            "rules": {"type": "array", "minItems": 1, "items": {
                "oneOf": [obj({"record": {"type": "string", "pattern": "^[a-zA-Z_:][a-zA-Z0-9_:]*$"}, "expr": STR, "labels": STRMAP}, ["record", "expr"]),
                          obj({"alert": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9]*$"}, "expr": STR, "for": DURATION,
                               "labels": STRMAP, "annotations": STRMAP}, ["alert", "expr"])]}}}, ["name", "rules"])}}, ["groups"])),
    ("keda.sh/v1alpha1", "ScaledObject"): resource("keda.sh/v1alpha1", "ScaledObject", obj({
        "scaleTargetRef": obj({"apiVersion": STR, "kind": STR, "name": STR, "envSourceContainerName": STR}, ["name"]),
        "minReplicaCount": INT, "maxReplicaCount": INT, "idleReplicaCount": INT,
        "pollingInterval": INT, "cooldownPeriod": INT,
        "advanced": obj({"restoreToOriginalReplicaCount": {"type": "boolean"},
                         "horizontalPodAutoscalerConfig": obj({"name": STR, "behavior": {"type": "object"}})}),
        "triggers": {"type": "array", "minItems": 1, "items": obj({
            "type": STR, "name": STR, "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
            "useCachedMetrics": {"type": "boolean"},
            "metadata": STRMAP, "authenticationRef": obj({"name": STR, "kind": STR}, ["name"])}, ["type", "metadata"])}},
        ["scaleTargetRef", "triggers"])),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): resource("gateway.networking.k8s.io/v1", "HTTPRoute", obj({
        "parentRefs": {"type": "array", "items": PARENT_REF}, "hostnames": {"type": "array", "items": STR},
        "rules": {"type": "array", "items": obj({
            "matches": {"type": "array", "items": obj({
                "path": obj({"type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]}, "value": STR}),
                "headers": {"type": "array"}, "queryParams": {"type": "array"}, "method": STR})},
            "filters": {"type": "array"}, "timeouts": {"type": "object"},
            "backendRefs": {"type": "array", "items": BACKEND_REF}})}})),
    ("gateway.networking.k8s.io/v1", "GRPCRoute"): resource("gateway.networking.k8s.io/v1", "GRPCRoute", obj({
        "parentRefs": {"type": "array", "items": PARENT_REF}, "hostnames": {"type": "array", "items": STR},
        "rules": {"type": "array", "items": obj({
            "matches": {"type": "array", "items": obj({
                "method": obj({"type": {"enum": ["Exact", "RegularExpression"]}, "service": STR, "method": STR}),
                "headers": {"type": "array"}})},
            "filters": {"type": "array"},
            "backendRefs": {"type": "array", "items": BACKEND_REF}})}})),
}
