"""Fixtures for the chart tests: Helm's own engine (helm-python-sdk), no cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chartkit  # noqa: E402

SCENARIOS = {p.name.removesuffix(".yaml"): p for p in chartkit.scenario_files()}


@pytest.fixture(scope="session")
def chart():
    return chartkit.load_chart()


@pytest.fixture(scope="session")
def render(chart):
    """render(values) -> list of objects (helm test hooks included); render(values, raw=True) -> {path: text}."""

    def _render(values=None, *, raw=False, name=chartkit.RELEASE, namespace=chartkit.NAMESPACE):
        rendered = chartkit.render(values or {}, name=name, namespace=namespace, chart=chart)
        return rendered if raw else chartkit.objects(rendered)

    return _render


@pytest.fixture(scope="session")
def scenario_values():
    """{'defaults': {}, '<scenario>': values from ci/<scenario>-values.yaml}."""
    out = {"defaults": {}}
    for name, path in SCENARIOS.items():
        out[name] = yaml.safe_load(path.read_text()) or {}
    return out


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
