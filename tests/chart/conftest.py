"""Fixtures for the chart tests: Helm's own engine (helm-python-sdk), no cluster."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

# The chart tests import their helpers and the chart tooling (tools/chart/) by module name.
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parents[1] / "tools" / "chart")]

import helm_engine  # noqa: E402
from manifest_lookup import SCENARIOS  # noqa: E402


@pytest.fixture(scope="session")
def chart():
    return helm_engine.load_chart()


@pytest.fixture(scope="session")
def render(chart):
    """render(values) -> list of objects (helm test hooks included); render(values, raw=True) -> {path: text}."""

    def _render(values=None, *, raw=False, name=helm_engine.RELEASE, namespace=helm_engine.NAMESPACE):
        rendered = helm_engine.render(values or {}, name=name, namespace=namespace, chart=chart)
        return rendered if raw else helm_engine.objects(rendered)

    return _render


@pytest.fixture(scope="session")
def scenario_values():
    """{'defaults': {}, '<scenario>': values from ci/<scenario>-values.yaml}."""
    out = {"defaults": {}}
    for name, path in SCENARIOS.items():
        out[name] = yaml.safe_load(path.read_text()) or {}
    return out


# The example digits family: ONNX, TorchScript, two Python models and their ensemble.
DIGITS_FAMILY = ["digits", "digits_torchscript", "digits_preprocess", "digits_postprocess", "digits_pipeline"]


@pytest.fixture(scope="session")
def example_repository(copy_example_models, tmp_path_factory):
    """The example digits family, copied from the session's `tritonctl build` output
    (tests/conftest.py), for the tests that serve it with the chart's container."""
    return copy_example_models(DIGITS_FAMILY, tmp_path_factory.mktemp("example-repo") / "model_repository")
