"""Defaults the docs rely on agree with the install commands the docs give."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
