"""checkov finds nothing to fix in any scenario; every skip in the chart carries a reason."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

import helm_engine
from manifest_lookup import SCENARIOS

CHECKOV = Path(os.environ.get("CHECKOV", helm_engine.ROOT / ".venv-checkov" / "bin" / "checkov"))
ALL = ["defaults", *SCENARIOS]


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory, scenario_values, render):
    """One checkov run over every scenario's rendered manifests: {scenario: [failed checks]}."""
    if not CHECKOV.exists():
        pytest.fail(f"checkov not found at {CHECKOV}: run `make checkov` (it creates .venv-checkov), "
                    "or set CHECKOV to a checkov executable")
    out = tmp_path_factory.mktemp("checkov")
    for name in ALL:
        (out / f"{name}.yaml").write_text(yaml.safe_dump_all(render(scenario_values[name])))
    proc = subprocess.run(
        [str(CHECKOV), "--directory", str(out), "--framework", "kubernetes", "--output", "json", "--quiet",
         "--skip-download"],
        capture_output=True, text=True, env={**os.environ, "BC_SKIP_MAPPING": "TRUE"}, timeout=300)
    assert proc.stdout.strip(), proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = {name: [] for name in ALL}
    passed = 0
    for rep in reports:
        passed += rep["summary"]["passed"]
        for check in rep["results"].get("failed_checks", []):
            failed[Path(check["file_path"]).stem].append(f"{check['check_id']} {check['resource']}: {check['check_name']}")
    assert passed > 0, "checkov scanned nothing"
    return failed


@pytest.mark.parametrize("scenario", ALL)
def test_checkov_should_report_zero_failed_checks(checkov_report, scenario):
    assert checkov_report[scenario] == []


def test_every_checkov_skip_in_the_chart_should_carry_a_written_reason():
    text = "\n".join(p.read_text() for p in (helm_engine.CHART / "templates").rglob("*") if p.is_file())
    skips = re.findall(r"CKV2?_K8S_\d+=([^\"]*)\"", text)
    assert skips and all(len(reason.split()) >= 6 for reason in skips), skips


def test_checkov_skips_should_disappear_once_the_user_sets_what_they_excuse(render, scenario_values):
    def skipped(values):
        dep = next(o for o in render(values) if o["kind"] == "Deployment")
        return {v.split("=")[0] for k, v in dep["metadata"]["annotations"].items() if k.startswith("checkov.io/skip")}

    # a digest of the right form (no ci scenario pins one: test_chart_ci_digests.py)
    pinned = {**scenario_values["gpu-values"], "image": {"digest": "sha256:" + "a" * 64}}
    assert "CKV_K8S_43" in skipped(scenario_values["gpu-values"])
    # CKV_K8S_35 (a Secret as env) holds while APIs are restricted: Triton takes the key from its args only
    assert skipped(pinned) == {"CKV_K8S_15", "CKV_K8S_40", "CKV_K8S_35"}
    unrestricted = {**pinned, "server": {"restrictedApis": {"apis": []}}}
    assert skipped(unrestricted) == {"CKV_K8S_15", "CKV_K8S_40"}
