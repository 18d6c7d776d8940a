"""Run the programs of examples/clients/ as a user would: a subprocess from the repository root."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from serverkit import ROOT

CLIENTS = ROOT / "examples" / "clients"
SAMPLES = sorted((ROOT / "examples" / "digits_samples").glob("*_label*.png"))


def label_of(png: Path) -> str:
    return re.search(r"_label(\w+)", png.stem).group(1)


def example_cmd(name: str, *args: str) -> list[str]:
    return [sys.executable, str(CLIENTS / name), *args]


def run_example(name: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(example_cmd(name, *args), capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def json_output(res: subprocess.CompletedProcess) -> dict:
    """The JSON object an example printed last, or a failure that shows what it printed instead."""
    lines = [line for line in res.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON on stdout (exit {res.returncode}):\nstdout:\n{res.stdout}\nstderr:\n{res.stderr}"
    return json.loads(lines[-1])
