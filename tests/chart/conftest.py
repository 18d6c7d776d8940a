"""Fixtures for the chart tests: Helm's own engine (helm-python-sdk), no cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import chartkit  # noqa: E402
from chart_helpers import SCENARIOS  # noqa: E402


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
