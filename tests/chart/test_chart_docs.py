"""Documentation and generated files stay in sync with the chart."""

from __future__ import annotations

import json

import pytest
import yaml

import generated_files
import helm_engine

VALUES_TEXT = (helm_engine.CHART / "values.yaml").read_text()
VALUES = yaml.safe_load(VALUES_TEXT)
SCHEMA = json.loads((helm_engine.CHART / "values.schema.json").read_text())
DOCUMENTED = [key for _, key, _ in generated_files.parse_params(VALUES_TEXT)]


def test_values_yaml_should_point_at_its_schema_on_the_first_line():
    assert VALUES_TEXT.splitlines()[0] == "# yaml-language-server: $schema=values.schema.json"


def test_every_value_should_be_documented_by_an_at_param_comment():
    undocumented = [k for k in generated_files.leaf_keys(VALUES)
                    if not any(k == d or k.startswith(d + ".") for d in DOCUMENTED)]
    assert undocumented == []


def test_every_at_param_comment_should_name_an_existing_value_once():
    assert len(DOCUMENTED) > 20, "the @param comments were not found: is values.yaml read?"
    for key in DOCUMENTED:
        generated_files.lookup(VALUES, key)  # raises KeyError on a key values.yaml does not hold
    assert len(DOCUMENTED) == len(set(DOCUMENTED))


def test_values_yaml_should_use_one_comment_style_only():
    comments = [line.strip() for line in VALUES_TEXT.splitlines()[4:] if line.strip().startswith("#")]
    assert len(comments) > 20, "no comments found below the header: is values.yaml read?"
    assert [c for c in comments if not c.startswith(("## @param ", "## @section "))] == []


def test_the_readme_parameter_table_should_match_values_yaml():
    readme = generated_files.README.read_text()
    assert generated_files.readme_with_table(readme, generated_files.parameter_table()) == readme, "run `make chart-docs`"


def walk(schema, path="#"):
    yield path, schema
    for key, sub in (schema.get("properties") or {}).items():
        yield from walk(sub, f"{path}/{key}")
    if isinstance(schema.get("items"), dict):
        yield from walk(schema["items"], f"{path}[]")


def test_the_schema_should_be_draft_07_and_refuse_unknown_keys_everywhere():
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    objects = [(path, node) for path, node in walk(SCHEMA) if node.get("properties")]
    assert len(objects) > 5, "walk() found almost no object in the schema"
    assert [path for path, node in objects if node.get("additionalProperties") is not False] == []


def test_the_schema_should_describe_every_value_and_nothing_else():
    def schema_keys(node, prefix=""):
        for key, sub in node.get("properties", {}).items():
            if sub.get("properties"):
                yield from schema_keys(sub, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}"

    value_keys = set(generated_files.leaf_keys(VALUES))
    keys = set(schema_keys(SCHEMA))
    # objects left open on purpose (free-form Kubernetes structures) count as leaves
    assert {k for k in value_keys
            if not any(k == s or k.startswith(s + ".") or s.startswith(k + ".") for s in keys)} == set()
    assert {s for s in keys
            if not any(v == s or v.startswith(s + ".") or s.startswith(v + ".") for v in value_keys)} == set()


def test_chart_yaml_should_be_api_v2_with_a_semver_version():
    import re

    meta = yaml.safe_load((helm_engine.CHART / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", meta["version"])
    assert re.fullmatch(r"\d\d\.\d\d", meta["appVersion"])


def test_the_plain_manifests_in_k8s_should_match_the_chart():
    assert generated_files.write_k8s(check=True) == 0, "run `make k8s`"


def test_the_plain_manifests_should_not_contain_helm_hooks():
    manifests = sorted((helm_engine.ROOT / "k8s" / "triton").glob("*.yaml"))
    assert manifests, "k8s/triton/ holds no manifest: run `make k8s`"
    assert [p.name for p in manifests if "helm.sh/hook" in p.read_text()] == []


@pytest.mark.parametrize("doc", ["helm/triton/README.md", "k8s/README.md"])
def test_the_readmes_should_show_the_command_that_proves_the_metric_reaches_the_hpa(doc):
    assert 'kubectl get --raw "/apis/custom.metrics.k8s.io/v1beta1/namespaces/' in (helm_engine.ROOT / doc).read_text()
