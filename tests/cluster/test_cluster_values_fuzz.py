"""Every legal combination of values is admitted: values drawn from values.schema.json
(hypothesis-jsonschema) are rendered by the Helm CLI (`helm template`, the schema checked) and the
render is sent to the API server with `kubectl apply --dry-run=server`, which validates and admits
every object (admission included) and stores nothing. Helm 4's own `helm install --dry-run=server`
is not enough: it reads from the API server but never sends it the rendered objects (a CPU request
above its limit passes it). A draw may only fail by the chart's own refusal
(_validate.tpl's "VALUES VALIDATION" block, whose messages are tested in tests/chart); a template
that renders invalid YAML, a schema Helm disagrees with, or an object the API server refuses is
a defect of the chart. The draw is derandomized in `make test` (the same examples every run);
`make fuzz-chart FUZZ_EXAMPLES=2000` draws new ones."""

from __future__ import annotations

import json
import os

import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis_jsonschema import from_schema
from kubekit import CHART

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"


class QuotedDumper(yaml.SafeDumper):
    """Every string double-quoted: Helm reads a values file as YAML 1.1, where a plain `y` or `n`
    (which PyYAML leaves unquoted) is a boolean, so the drawn string would reach the chart as one."""


QuotedDumper.add_representer(str, lambda dumper, s: dumper.represent_scalar("tag:yaml.org,2002:str", s, style='"'))


def test_values_drawn_from_the_schema_are_refused_only_by_the_chart_itself(kube, namespace, tmp_path):
    values_file = tmp_path / "values.yaml"
    outcomes = {"installed": 0, "refused by the chart": 0}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, database=None,
              phases=[Phase.generate, Phase.shrink] if RANDOM else [Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(from_schema(SCHEMA))
    def install_dry_run(values):
        values_file.write_text(yaml.dump(values, Dumper=QuotedDumper))
        rendered = kube.helm("template", "fuzz", str(CHART), "-n", namespace, "-f", str(values_file),
                             check=False, timeout=60)
        if rendered.returncode != 0:
            if "VALUES VALIDATION" in rendered.stderr:
                outcomes["refused by the chart"] += 1
                return
            raise AssertionError(f"helm template failed outside the chart's own validation:\n"
                                 f"{rendered.stderr.strip()[-2000:]}\nvalues:\n{json.dumps(values)[:3000]}")
        # objects the values send to another namespace (e.g. metrics.dashboard.namespace): a user
        # installs into namespaces that exist
        elsewhere = {d["metadata"]["namespace"] for d in yaml.safe_load_all(rendered.stdout)
                     if d and d.get("metadata", {}).get("namespace") not in (None, namespace)}
        for other in elsewhere - created:
            kube.namespace(other, labels={})
            created.add(other)
        applied = kube.kubectl("apply", "--dry-run=server", "-f", "-", input=rendered.stdout,
                               check=False, timeout=60)
        if applied.returncode != 0:
            raise AssertionError(f"the API server refused the render:\n{applied.stderr.strip()[-2000:]}\n"
                                 f"values:\n{json.dumps(values)[:3000]}")
        outcomes["installed"] += 1

    created: set[str] = set()
    try:
        install_dry_run()
    finally:
        for other in created:
            kube.kubectl("delete", "namespace", other, "--wait=false", check=False)
    # the draw reached the API server, not only the chart's refusals
    assert outcomes["installed"] >= EXAMPLES // 4, outcomes
