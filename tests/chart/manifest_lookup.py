"""Look-ups in a rendered chart (objects by kind and name, the Triton container, the pod spec),
shared by the chart tests; imported by name because `conftest` is ambiguous across test dirs."""

from __future__ import annotations

import helm_engine

SCENARIOS = {p.name.removesuffix(".yaml"): p for p in helm_engine.scenario_files()}


def find(objs, kind, name=None):
    """The one object of `kind` (and `name`), or fail."""
    hits = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(hits) == 1, f"expected one {kind} {name or ''}, got {[o['metadata']['name'] for o in hits]}"
    return hits[0]


def kinds(objs):
    return sorted(o["kind"] for o in objs)


def triton_container(objs):
    dep = find(objs, "Deployment")
    return next(c for c in dep["spec"]["template"]["spec"]["containers"] if c["name"] == "triton")


def pod_spec(objs):
    return find(objs, "Deployment")["spec"]["template"]["spec"]
