"""benchmarks/analyzer_mapping.py and the peers' pure parts without servers: tune's grid as a Model
Analyzer config, its answer back as a candidate, the peer apps' body decoding, the goals against the peers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import analyzer_mapping
    import peer_runtime
    import peers_report

    return analyzer_mapping, peer_runtime, peers_report


SPACE = {"max_batch_sizes": [8, 16], "queue_delays_us": [0, 500], "instance_counts": [1, 2],
         "concurrencies": [1, 16], "preferred": [()]}


def test_the_analyzer_profiles_tunes_grid_on_cpu_instances_in_remote_mode(bench, tmp_path):
    mapping, _, _ = bench
    cfg = mapping.analyzer_config("digits", tmp_path, SPACE, 20.0,
                                  {"http": "127.0.0.1:1", "grpc": "127.0.0.1:2", "metrics": "http://127.0.0.1:3/metrics"},
                                  {"perf_analyzer": "pa", "output_repository": tmp_path / "o", "export": tmp_path / "e",
                                   "checkpoints": tmp_path / "c"})
    model = cfg["profile_models"]["digits"]
    assert (cfg["triton_launch_mode"], cfg["run_config_search_disable"], cfg["dcgm_disable"]) == ("remote", True, True)
    assert model["cpu_only"] is True
    assert model["model_config_parameters"] == {
        "max_batch_size": [8, 16], "dynamic_batching": {"max_queue_delay_microseconds": [0, 500]},
        "instance_group": [{"kind": "KIND_CPU", "count": [1, 2]}]}
    assert model["parameters"] == {"concurrency": [1, 16]}
    assert cfg["objectives"] == ["perf_throughput"] and cfg["constraints"] == {"perf_latency_p99": {"max": 20.0}}
    with_pref = mapping.analyzer_config("digits", tmp_path, dict(SPACE, preferred=[(4, 8)]), 20.0,
                                        {"http": "", "grpc": "", "metrics": ""},
                                        {k: "x" for k in ("perf_analyzer", "output_repository", "export", "checkpoints")})
    assert with_pref["profile_models"]["digits"]["model_config_parameters"]["dynamic_batching"]["preferred_batch_size"] == [[4, 8]]


CSV = """Model,Batch,Concurrency,Model Config Path,Instance Group,Max Batch Size,Satisfies Constraints,Throughput (infer/sec),p90 Latency (ms),p95 Latency (ms),p99 Latency (ms)
digits,1,16,digits_config_3,2:CPU,16,No,5200.0,20.0,24.0,31.5
digits,1,16,digits_config_1,1:CPU,8,Yes,4100.0,4.0,4.5,6.0
digits,1,16,digits_config_2,2:CPU,16,Yes,4100.0,4.0,4.5,5.0
digits,1,1,digits_config_0,1:CPU,8,Yes,900.0,1.0,1.1,1.3
"""


def test_the_analyzers_pick_is_the_fastest_row_within_the_p99_budget(bench):
    mapping, _, _ = bench
    # config_3 is fastest but over 20 ms; config_1 and config_2 tie on throughput: the lower p99 wins
    assert mapping.analyzer_winner(CSV, 20.0) == {"config": "digits_config_2", "throughput": 4100.0, "p99_ms": 5.0,
                                                  "concurrency": 16}
    assert mapping.analyzer_winner(CSV, 40.0)["config"] == "digits_config_3"
    assert mapping.analyzer_winner(CSV, 1.0) is None


def test_a_served_config_maps_back_to_the_candidate_tune_would_load(bench):
    mapping, _, _ = bench
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2 as mc

    cfg = text_format.Parse('name: "digits_config_2" max_batch_size: 16 '
                            'instance_group { count: 2 kind: KIND_CPU } '
                            'dynamic_batching { max_queue_delay_microseconds: 500 }', mc.ModelConfig())
    c = mapping.candidate_of(cfg, "onnx")
    assert (c.max_batch_size, c.max_queue_delay_microseconds, c.instance_count, c.preferred_batch_size) == (16, 500, 2, ())
    assert c.apply(cfg).instance_group[0].count == 2


def test_peer_apps_read_their_models_and_refuse_a_body_of_the_wrong_size(bench):
    _, runtime, _ = bench
    env = {"PEER_MODELS": json.dumps([{"name": "digits", "format": "onnx", "path": "m.onnx", "shape": [1, 28, 28],
                                       "input": "image", "output": "logits", "max_batch": 16, "delay_ms": 2}]),
           "PEER_WORKERS": "2", "PEER_THREADS": "1"}
    (s,) = runtime.from_env(env)
    assert (s.route, s.max_batch, s.delay_ms, s.workers, s.threads) == ("/predict/digits_onnx", 16, 2.0, 2, 1)
    x = np.arange(784, dtype=np.float32)
    assert np.array_equal(runtime.decode(x.tobytes(), s), x.reshape(1, 28, 28))
    with pytest.raises(ValueError, match=r"digits: a raw body of 12 bytes; one float32 sample of shape \[1, 28, 28\] is 3136 bytes"):
        runtime.decode(bytes(12), s)
    with pytest.raises(SystemExit, match="PEER_MODELS is not set"):
        runtime.from_env({})


def row(model, system, throughput, p99, c=8):
    return {"model": model, "system": system, "concurrency": c, "throughput": throughput, "p50_ms": p99 / 2,
            "p99_ms": p99, "requests": 100, "errors": 0}


def test_issue16_goals_compare_ours_with_the_best_of_every_peer(bench):
    _, _, report = bench
    rows = [row("digits", "triton-onnx-http", 8000.0, 6.0), row("digits", "litserve-onnx", 3900.0, 9.0),
            row("digits", "rayserve-onnx", 4100.0, 5.0), row("digits", "flask", 1300.0, 13.0),
            row("digits", "inproc-onnxruntime", 100000.0, 0.4),
            row("resnet18", "triton-onnx-grpc", 100.0, 200.0), row("resnet18", "inproc-onnxruntime", 112.0, 150.0),
            row("resnet18", "bentoml-onnx", 101.0, 180.0)]
    goals = {what: ok for what, _, ok in report.peer_goals(rows, ["digits", "resnet18"])}
    # 8000 < 2 x 4100 (the best peer), and its p99 of 5.0 is lower than ours
    assert goals == {"digits: ours >= 2x the best peer (rayserve-onnx), lower p99": False,
                     "resnet18: ours >= 0.9x the in-process limit": False,  # 100 < 0.9 x 112
                     "resnet18: ours ahead of every peer (best: bentoml-onnx)": False}
    rows[2] = row("digits", "rayserve-onnx", 3900.0, 7.0)
    rows[5] = row("resnet18", "triton-onnx-grpc", 102.0, 200.0)
    goals = {what: ok for what, _, ok in report.peer_goals(rows, ["digits", "resnet18"])}
    assert list(goals.values()) == [True, True, True]


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_idle_peers_are_held_while_another_system_is_measured_and_continued_to_stop(monkeypatch, tmp_path):
    import os
    import time

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import peers_servers

    servers = peers_servers.Servers()
    procs = {fw: servers.spawn(["sleep", "60"], tmp_path / f"{fw}.log", dict(os.environ)).proc
             for fw in ("litserve", "bentoml")}
    try:
        for fw, proc in procs.items():
            servers.pausable[fw] = [proc.pid]

        servers.focus("litserve-onnx")
        deadline = time.monotonic() + 10
        while _state(procs["bentoml"].pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        # the focused one is not held (running or sleeping: a just-started process may still be R)
        assert _state(procs["bentoml"].pid) == "T" and _state(procs["litserve"].pid) != "T"
        servers.focus("triton-onnx-grpc")
        while _state(procs["litserve"].pid) != "T" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert {fw: _state(p.pid) for fw, p in procs.items()} == {"litserve": "T", "bentoml": "T"}
        servers.stop()  # continues the held groups first, so SIGTERM ends them without waiting for the kill
        # ended by the SIGTERM, not by the SIGKILL that follows a held (stopped) group's timeout
        assert {fw: p.poll() for fw, p in procs.items()} == {"litserve": -15, "bentoml": -15}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
