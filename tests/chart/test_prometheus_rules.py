"""The chart's Prometheus rules through promtool (Debian's prometheus package; `make prometheus`):
`promtool check rules` on every rules file the chart renders, for the defaults and every
scenario, and `promtool test rules` unit tests (tests/chart/promtool/) for every recording rule
and alert, with input series that should and should not fire."""

from __future__ import annotations

import copy
import re
import shutil

import pytest
import yaml

import helm_engine
import promkit
from manifest_lookup import SCENARIOS

PROMTOOL_TESTS = sorted((helm_engine.ROOT / "tests" / "chart" / "promtool").glob("*_test.yaml"))

# The values the unit tests in tests/chart/promtool/ are written against (their expectations
# follow from these numbers, whatever the chart's defaults are; the recorded series are named
# after the rate window, `:rate1m`). Both forms the chart ships the rules in are tested: the
# PrometheusRule (Prometheus Operator) and the rules ConfigMap (plain Prometheus).
UNIT_VALUES = {"metrics": {"rateWindow": "1m", "rulesConfigMap": {"enabled": True}, "prometheusRule": {"enabled": True, "alerts": {
    "enabled": True, "for": "5m", "notReadyFor": "45m", "queueTimeMicroseconds": 100000, "failureRatio": 0.05}}}}


def _scenarios() -> dict[str, dict]:
    """Defaults, defaults with each form of the rules on, and every ci/*-values.yaml."""
    out = {"defaults": {}, "defaults-with-rules": {"metrics": {"prometheusRule": {"enabled": True}}},
           "defaults-with-rules-configmap": {"metrics": {"rulesConfigMap": {"enabled": True}}}}
    out.update({name: yaml.safe_load(path.read_text()) or {} for name, path in SCENARIOS.items()})
    return out


def _rendered_rule_files() -> list[tuple[str, str, dict]]:
    chart = helm_engine.load_chart()
    out = []
    for scenario, values in _scenarios().items():
        objs = helm_engine.objects(helm_engine.render(values, chart=chart))
        out += [(scenario, source, rules) for source, rules in promkit.rule_files(objs).items()]
    return out


RENDERED = _rendered_rule_files()


def test_the_rules_should_be_rendered_for_the_scenarios_that_ask_for_them():
    with_rules = {scenario for scenario, _, _ in RENDERED}
    assert {"defaults-with-rules", "defaults-with-rules-configmap", "autoscaling-adapter-values"} <= with_rules, with_rules
    assert "defaults" not in with_rules  # the PrometheusRule is off by default


@pytest.mark.parametrize("scenario,source,rules", RENDERED, ids=[f"{s}:{src}" for s, src, _ in RENDERED])
def test_promtool_check_rules_should_accept_every_rendered_rules_file(scenario, source, rules, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    proc = promkit.promtool("check", "rules", str(path))
    assert proc.returncode == 0, f"{scenario} {source}:\n{proc.stdout}{proc.stderr}"
    assert f"SUCCESS: {len(promkit.rules_of(rules))} rules found" in proc.stdout, proc.stdout


def _unit_rule_files(render) -> dict[str, dict]:
    files = promkit.rule_files(render(UNIT_VALUES))
    assert {s.split("/")[0] for s in files} == {"PrometheusRule", "ConfigMap"}, list(files)
    return files


def _without_annotations(rules: dict) -> dict:
    """promtool compares annotations verbatim; the unit tests are about expressions, labels and timing."""
    rules = copy.deepcopy(rules)
    for rule in promkit.rules_of(rules):
        rule.pop("annotations", None)
    return rules


def test_every_rule_the_chart_ships_should_have_a_promtool_unit_test(render):
    tested = set()
    for path in PROMTOOL_TESTS:
        doc = yaml.safe_load(path.read_text())
        for case in doc["tests"]:
            tested |= {t["alertname"] for t in case.get("alert_rule_test", [])}
            for t in case.get("promql_expr_test", []):
                tested |= {name for name in _names_in(t["expr"])}
    for source, rules in _unit_rule_files(render).items():
        untested = promkit.rule_names(rules) - tested
        assert not untested, f"{source}: rules without a test in tests/chart/promtool/: {sorted(untested)}"


def _names_in(expr: str) -> set[str]:
    return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr))


@pytest.mark.parametrize("test_file", PROMTOOL_TESTS, ids=[p.stem for p in PROMTOOL_TESTS])
def test_promtool_unit_tests_should_pass_on_the_rendered_rules(test_file, render, tmp_path):
    for source, rules in _unit_rule_files(render).items():
        workdir = tmp_path / source.replace("/", "_")
        workdir.mkdir()
        (workdir / "rules.yaml").write_text(yaml.safe_dump(_without_annotations(rules), sort_keys=False))
        shutil.copy(test_file, workdir / test_file.name)
        proc = promkit.promtool("test", "rules", test_file.name, cwd=workdir)
        assert proc.returncode == 0, f"{source} with {test_file.name}:\n{proc.stdout}{proc.stderr}"
        assert "SUCCESS" in proc.stdout, proc.stdout
