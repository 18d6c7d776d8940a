"""Defaults the docs rely on agree with the install commands the docs give."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_resilient_clients_default_url_is_the_namespace_every_install_command_uses():
    docs = [ROOT / "README.md", ROOT / "helm" / "triton" / "README.md", ROOT / "docs" / "serve.md"]
    namespaces = {ns for d in docs for ns in re.findall(r"helm install \S+ \S+ -n (\S+)", d.read_text())}
    assert namespaces == {"triton"}, namespaces
    res = subprocess.run([sys.executable, "examples/clients/resilient.py", "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr
    # argparse wraps long defaults, at hyphens too: compare without whitespace
    assert "dns:///triton-headless.triton.svc.cluster.local:8001" in "".join(res.stdout.split()), res.stdout


def test_every_triton_release_the_docs_pass_is_the_one_the_chart_deploys():
    """A user copying `--triton-release` from the docs checks against the Triton the chart installs
    (Chart.yaml's appVersion, the image tag), not an older one whose rules differ."""
    app_version = yaml.safe_load((ROOT / "helm" / "triton" / "Chart.yaml").read_text())["appVersion"]
    docs = [ROOT / "README.md", ROOT / "loadtest" / "README.md", ROOT / "helm" / "triton" / "README.md",
            *sorted((ROOT / "docs").glob("*.md"))]
    passed = {(d.relative_to(ROOT).as_posix(), r) for d in docs for r in re.findall(r"--triton-release[ =](\S+)", d.read_text())
              if re.fullmatch(r"\d\d\.\d\d", r)}
    assert passed, "no doc passes --triton-release with a release: the test reads the wrong files"
    assert {r for _, r in passed} == {app_version}, sorted(passed)
