"""Kubernetes selector semantics, applied to rendered manifests: which pods a selector picks and
which sources a NetworkPolicy admits. Written from the API reference (LabelSelector,
Service.spec.selector, NetworkPolicyPeer), so the tests compute selections instead of
comparing strings."""

from __future__ import annotations

import ipaddress


def label_selector_matches(selector: dict | None, labels: dict) -> bool:
    """metav1.LabelSelector: matchLabels AND every matchExpression; an empty selector selects all."""
    selector = selector or {}
    labels = labels or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def service_selector_matches(selector: dict | None, labels: dict) -> bool:
    """Service.spec.selector: a plain map; an empty or absent one selects no pod (no endpoints)."""
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


def pod_templates(objs: list[dict]) -> list[tuple[str, dict, dict]]:
    """(description, pod labels, pod spec) of every pod the objects create: workload templates and bare Pods."""
    out = []
    for obj in objs:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "Pod":
            out.append((name, obj["metadata"].get("labels") or {}, obj["spec"]))
        elif obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
            tpl = obj["spec"]["template"]
            out.append((name, tpl["metadata"].get("labels") or {}, tpl["spec"]))
        elif obj["kind"] == "CronJob":
            tpl = obj["spec"]["jobTemplate"]["spec"]["template"]
            out.append((name, tpl["metadata"].get("labels") or {}, tpl["spec"]))
    return out


def _port_matches(rule_port: dict, container_ports: list[dict], port_name: str) -> bool:
    target = next(p for p in container_ports if p["name"] == port_name)
    if rule_port.get("protocol", "TCP") != target.get("protocol", "TCP"):
        return False
    if "port" not in rule_port:
        return True
    wanted = rule_port["port"]
    if isinstance(wanted, str):
        return wanted == port_name
    return wanted <= target["containerPort"] <= rule_port.get("endPort", wanted)


def _peer_admits(peer: dict, policy_namespace: str, source: dict) -> bool:
    if "ipBlock" in peer:
        if source.get("ip") is None:
            return False
        ip = ipaddress.ip_address(source["ip"])
        block = peer["ipBlock"]
        return ip in ipaddress.ip_network(block["cidr"]) and not any(
            ip in ipaddress.ip_network(e) for e in block.get("except") or [])
    if source.get("pod_labels") is None:  # not a pod: only ipBlocks can admit it
        return False
    if "namespaceSelector" in peer:
        if not label_selector_matches(peer["namespaceSelector"], source["namespace_labels"]):
            return False
    elif source["namespace"] != policy_namespace:
        return False
    return "podSelector" not in peer or label_selector_matches(peer["podSelector"], source["pod_labels"])


def policy_admits(policy: dict, container_ports: list[dict], port_name: str, source: dict) -> bool:
    """Whether one NetworkPolicy's ingress rules let `source` reach the named container port.

    `source` is {"namespace", "namespace_labels", "pod_labels"} for a pod, {"ip"} for anything else
    (a load balancer, a node)."""
    for rule in policy["spec"].get("ingress") or []:
        ports_ok = not rule.get("ports") or any(_port_matches(p, container_ports, port_name) for p in rule["ports"])
        peers = rule.get("from")
        from_ok = not peers or any(_peer_admits(p, policy["metadata"]["namespace"], source) for p in peers)
        if ports_ok and from_ok:
            return True
    return False


def pod_source(namespace: str, pod_labels: dict) -> dict:
    """A pod in `namespace` as a NetworkPolicy source (namespaces carry kubernetes.io/metadata.name)."""
    return {"namespace": namespace, "namespace_labels": {"kubernetes.io/metadata.name": namespace},
            "pod_labels": pod_labels}


def _node_requirement_matches(expr: dict, labels: dict) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return labels.get(key) not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt"):
        if key not in labels:
            return False
        have, want = int(labels[key]), int(values[0])
        return have > want if op == "Gt" else have < want
    raise ValueError(f"unknown node selector operator {op}")


def node_admits(pod_spec: dict, node_labels: dict) -> bool:
    """Whether the scheduler may place the pod on a node with these labels, as far as labels go:
    spec.nodeSelector (every label equal) AND the required node affinity (nodeSelectorTerms ORed,
    the matchExpressions of a term ANDed; a term without requirements matches no node)."""
    if any(node_labels.get(k) != v for k, v in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution")
    if not required:
        return True
    return any(term.get("matchExpressions") and all(_node_requirement_matches(e, node_labels) for e in term["matchExpressions"])
               for term in required["nodeSelectorTerms"])
