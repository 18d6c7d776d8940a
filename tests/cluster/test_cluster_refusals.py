"""The chart's own refusals reach a user of the Helm CLI unchanged: every invalid combination
(_validate.tpl) and every schema violation that tests/chart/test_chart_errors.py proves on Helm's
engine also fails `helm install` (the built Helm 4 CLI, against the API server) with the same
message fragments, and nothing is installed."""

from __future__ import annotations

import pytest
import yaml
from helm_engine import RELEASE
from kubekit import CHART
from test_chart_errors import INVALID_COMBINATIONS, SCHEMA_VIOLATIONS

CASES = [pytest.param(v, f, id=f"validate: {i}") for i, v, f in INVALID_COMBINATIONS] + \
        [pytest.param(v, [f], id=f"schema: {i}") for i, v, f in SCHEMA_VIOLATIONS]


@pytest.fixture(scope="module")
def refusals_namespace(kube):
    kube.namespace("refusals")
    yield "refusals"
    kube.kubectl("delete", "namespace", "refusals", "--timeout=60s", check=False)


@pytest.mark.parametrize("values, fragments", CASES)
def test_helm_install_refuses_with_the_charts_message(kube, refusals_namespace, tmp_path, values, fragments):
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    # the release name the engine tests render with (a refusal may depend on it)
    result = kube.helm("install", RELEASE, str(CHART), "-n", refusals_namespace, "-f", str(path), check=False)
    if result.returncode == 0:
        kube.helm("uninstall", RELEASE, "-n", refusals_namespace, "--wait")
    assert result.returncode != 0
    missing = [f for f in fragments if f not in result.stderr]
    assert not missing, f"{missing} not in: {result.stderr}"
    assert kube.helm("list", "-n", refusals_namespace, "-q").stdout.strip() == ""
