"""benchmarks/peers_*.py without servers: model facts from models.yaml, and the report's verdicts."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def peers(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import peers_report
    import peers_servers

    return peers_servers, peers_report


def test_tensor_and_served_names_come_from_models_yaml(peers, tmp_path):
    servers, _ = peers
    spec = tmp_path / "models.yaml"
    spec.write_text(textwrap.dedent("""\
        models:
          - name: tiny
            source: examples.linear:build
            inputs: [{name: pixels, dtype: float32, shape: [3, 8, 8]}]
            outputs: [{name: scores, dtype: float32, shape: [5]}]
            formats: [onnx, torchscript]
          - name: pair
            source: examples.linear:build
            inputs: [{name: a, dtype: float32, shape: [4]}, {name: b, dtype: float32, shape: [4]}]
            outputs: [{name: y, dtype: float32, shape: [1]}]
            formats: [onnx, torchscript]
        """))
    m = servers.models_from_spec(spec, ["tiny"])["tiny"]
    # Triton serves TorchScript tensors by position: <name>__<index> (the pytorch backend's convention)
    assert (m.shape, m.served, m.inputs, m.outputs) == (
        (3, 8, 8), {"onnx": "tiny", "torchscript": "tiny_torchscript"},
        {"onnx": "pixels", "torchscript": "pixels__0"}, {"onnx": "scores", "torchscript": "scores__0"})
    with pytest.raises(ValueError, match="model 'pair'.*inputs \\['a', 'b'\\]"):
        servers.models_from_spec(spec, ["pair"])
    with pytest.raises(ValueError, match="model 'nope' is not in"):
        servers.models_from_spec(spec, ["nope"])


def row(system, throughput, p99, c=1):
    return {"model": "digits", "system": system, "concurrency": c, "throughput": throughput, "p50_ms": p99 / 2,
            "p99_ms": p99, "requests": 100, "errors": 0}


def test_the_report_compares_each_peer_with_our_best_triton_row(peers):
    _, report = peers
    rows = [row("triton-onnx-grpc", 2100.0, 4.0), row("triton-onnx-http", 1800.0, 5.0), row("torchserve", 1000.0, 9.0),
            row("flask", 800.0, 3.0), row("inproc-onnxruntime", 4000.0, 1.0, c=16)]
    ratios = {s["system"]: round(s["ratio_to_ours"], 3) for s in report.summary(rows, ["digits"])}
    assert ratios == {"triton-onnx-grpc": 1.0, "triton-onnx-http": 0.857, "torchserve": 0.476, "flask": 0.381,
                      "inproc-onnxruntime": 1.905}
    met = {what.split(": ", 1)[1]: ok for what, _, ok in report.targets(rows, ["digits"])}
    # 2100 >= 2 x 1000 with a lower p99; 2100 < 3 x 800; 2100 >= 0.4 x 4000
    assert met == {"Triton >= 2x TorchServe, lower p99": True, "Triton >= 3x Flask": False,
                   "Triton >= 0.4x in-process limit": True}


def test_the_report_says_how_far_the_rounds_lay_apart(peers):
    _, report = peers
    rounds = [row("triton-onnx-grpc", 100.0, 4.0), row("triton-onnx-grpc", 80.0, 4.0),  # 20 % apart
              row("torchserve", 50.0, 9.0), row("torchserve", 45.0, 9.0),  # 10 %
              row("flask", 40.0, 9.0), row("flask", 40.0, 9.0)]  # 0 %
    best_rows = [row("triton-onnx-grpc", 100.0, 4.0), row("torchserve", 50.0, 9.0), row("flask", 40.0, 9.0)]
    lines = report.round_noise(best_rows, rounds, ["digits"])
    assert lines[0].startswith("- digits: rounds of one point differ by 10 % (median over 3 points)")
    assert lines[0].endswith("20 % at most")
    # the rounds behind the goal figures: our best Triton row and the best peer's row
    assert lines[1:] == ["  - triton-onnx-grpc at concurrency 1: 100.0, 80.0 samples/s",
                         "  - torchserve at concurrency 1: 50.0, 45.0 samples/s"]
    assert "## How noisy the rounds were" in report.markdown(best_rows, ["digits"], META, rounds)


META = {"date": "d", "machine": "m", "conditions": "c", "concurrency": [1], "duration": 1, "warmup": 1, "rounds": 2,
        "triton_client": "raw", "generator": "g", "inproc": "i", "triton": "t", "peers": "p"}
