"""`python loadtest/locustfile.py --help` lists our options beside Locust's (`locust -f ... --help`
cannot: Locust prints its help before it imports a locustfile), and the script form runs the same
load as `locust -f`."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
# the options loadtest/README.md and the locustfile's docstring tell users about
OURS = ("--models", "--grpc-host", "--samples", "--batch-size", "--max-fail-ratio", "--max-p99-ms", "--metrics-url")


def _help(*cmd: str) -> str:
    out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=120, cwd=ROOT / "tests",
                         env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_script_forms_help_lists_our_options_and_locusts():
    text = _help(sys.executable, str(LOCUSTFILE), "--help")
    assert text.startswith("Usage: locust"), text[:200]
    missing = [o for o in OURS if f"  {o} " not in text]
    assert not missing, missing
    assert "  --headless " in text and "--users <int>" in text  # Locust's own are all there too


def test_locusts_own_help_still_omits_them_or_the_docs_can_say_so():
    # Canary for locustio/locust#2917: the day Locust imports the locustfile before --help, this fails
    # and the docs can drop "use python loadtest/locustfile.py --help".
    text = _help(str(Path(sys.executable).parent / "locust"), "-f", str(LOCUSTFILE), "--help")
    assert "--headless" in text and "--models" not in text


@pytest.mark.integration
def test_the_script_form_runs_a_headless_load_over_both_protocols(lt_server, tmp_path):
    prefix = tmp_path / "run"
    out = subprocess.run([sys.executable, str(LOCUSTFILE), "--headless", "-u", "2", "-r", "2", "-t", "3s",
                          "--host", lt_server.http_url, "--grpc-host", lt_server.grpc_url, "--models", "linear",
                          "--max-fail-ratio", "0", "--csv", str(prefix), "ModelGrpcUser", "ModelHttpUser"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(open(f"{prefix}_stats.csv"))}
    for kind in ("grpc", "http"):
        row = rows.get((kind, "linear/1"))
        assert row and int(row["Request Count"]) > 0 and int(row["Failure Count"]) == 0, rows
