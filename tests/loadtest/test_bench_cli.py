"""`tritonctl bench` on a short sweep against a real local Triton: CSV, plot, comparison."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tritonctl", "bench", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


SHORT = ["-c", "1,2", "--window", "0.5", "--warmup", "0.2", "--max-windows", "4"]


def test_a_short_sweep_over_grpc_and_http_writes_csv_and_plot(lt_server, tmp_path):
    res = bench("linear", "--url", f"grpc://{lt_server.grpc_url}", "--url", f"http://{lt_server.http_url}",
                *SHORT, "-o", str(tmp_path))
    assert res.returncode == 0, res.stderr + res.stdout
    rows = list(csv.DictReader(open(tmp_path / "bench.csv")))
    assert [(r["protocol"], r["concurrency"]) for r in rows] == [("grpc", "1"), ("grpc", "2"), ("http", "1"), ("http", "2")]
    for r in rows:
        assert float(r["infer_per_s"]) > 0
        assert 0 < float(r["p50_ms"]) <= float(r["p95_ms"]) <= float(r["p99_ms"])
        assert r["errors"] == "0"
    png = (tmp_path / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "p99 ms" in res.stdout


def test_compare_draws_an_earlier_run_beside_a_new_one(lt_server, tmp_path):
    first = bench("digits", "--url", f"grpc://{lt_server.grpc_url}", *SHORT, "-o", str(tmp_path), "--name", "before",
                  "-b", "4")
    assert first.returncode == 0, first.stderr
    second = bench("digits", "--url", f"grpc://{lt_server.grpc_url}", *SHORT, "-o", str(tmp_path), "--name", "after",
                   "--compare", str(tmp_path / "before.csv"))
    assert second.returncode == 0, second.stderr
    assert "(before)" in second.stdout  # the earlier series is in the table and the plot
    rows = list(csv.DictReader(open(tmp_path / "before.csv")))
    assert {r["batch_size"] for r in rows} == {"4"}
    assert (tmp_path / "after.png").stat().st_size > 0


def test_an_unknown_model_is_named_with_the_ready_ones(lt_server, tmp_path):
    res = bench("no_such_model", "--url", f"grpc://{lt_server.grpc_url}", *SHORT, "-o", str(tmp_path))
    assert res.returncode == 1
    assert "model 'no_such_model' is not ready" in res.stderr and "linear" in res.stderr
    assert not (tmp_path / "bench.csv").exists()
