"""`make bench-tune-vs-analyzer`, the mapping: tune's search space as a Triton Model Analyzer 1.58
profile config, and Model Analyzer's answer back as a tune candidate.

Both searches get the same grid: the model's served format, ``max_batch_size``, the dynamic
batcher's queue delay (no preferred sizes, or the same preferred sizes), the CPU instance count,
the same concurrencies, and the same objective: the most throughput whose p99 stays under the
budget (Model Analyzer: objective ``perf_throughput``, constraint ``perf_latency_p99: {max: ...}``).

Model Analyzer's ``cpu_only`` (and ``kind: KIND_CPU`` in ``instance_group``) keeps its variants on
CPU instances; without them it writes ``KIND_GPU`` variants that a CPU-only Triton refuses
(model_analyzer issue 927). ``dcgm_disable`` skips its GPU discovery.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

#: Model Analyzer's inference CSV columns this comparison reads (metrics-model-inference.csv)
CONFIG_COLUMN = "Model Config Path"
THROUGHPUT_COLUMN = "Throughput (infer/sec)"
P99_COLUMN = "p99 Latency (ms)"
CONCURRENCY_COLUMN = "Concurrency"
SATISFIES_COLUMN = "Satisfies Constraints"


def analyzer_config(model: str, repository: Path, space: dict, budget_ms: float, endpoints: dict, paths: dict) -> dict:
    """The profile config (YAML as a dict) for Model Analyzer's brute search over tune's grid.

    ``space``: max_batch_sizes, queue_delays_us, instance_counts, concurrencies, preferred (a list of
    tuples; ``[()]`` for none). ``endpoints``: http, grpc, metrics (URL). ``paths``: perf_analyzer,
    output_repository, export, checkpoints.
    """
    batching: dict = {"max_queue_delay_microseconds": list(space["queue_delays_us"])}
    preferred = [list(p) for p in space.get("preferred", [()]) if p]
    if preferred:
        batching["preferred_batch_size"] = preferred
    return {
        "model_repository": str(repository),
        "triton_launch_mode": "remote",
        "triton_http_endpoint": endpoints["http"],
        "triton_grpc_endpoint": endpoints["grpc"],
        "triton_metrics_url": endpoints["metrics"],
        "client_protocol": "grpc",
        "perf_analyzer_path": str(paths["perf_analyzer"]),
        "output_model_repository_path": str(paths["output_repository"]),
        "override_output_model_repository": True,
        "export_path": str(paths["export"]),
        "checkpoint_directory": str(paths["checkpoints"]),
        "dcgm_disable": True,
        "run_config_search_mode": "brute",
        "run_config_search_disable": True,  # the grid below, exactly: no automatic sweep
        "profile_models": {
            model: {
                "cpu_only": True,
                "model_config_parameters": {
                    "max_batch_size": list(space["max_batch_sizes"]),
                    "dynamic_batching": batching,
                    "instance_group": [{"kind": "KIND_CPU", "count": list(space["instance_counts"])}],
                },
                "parameters": {"concurrency": list(space["concurrencies"])},
            }
        },
        "objectives": ["perf_throughput"],
        "constraints": {"perf_latency_p99": {"max": budget_ms}},
    }


def analyzer_winner(csv_text: str, budget_ms: float) -> dict | None:
    """Model Analyzer's pick from its inference CSV: the variant whose best measurement that meets
    the p99 constraint has the most throughput (its objective and constraint). None when no row fits."""
    best = None
    for row in csv.DictReader(io.StringIO(csv_text)):
        try:
            thr, p99 = float(row[THROUGHPUT_COLUMN]), float(row[P99_COLUMN])
        except (KeyError, ValueError):
            continue
        if p99 > budget_ms:
            continue
        if best is None or (thr, -p99) > (best["throughput"], -best["p99_ms"]):
            best = {"config": row[CONFIG_COLUMN], "throughput": thr, "p99_ms": p99,
                    "concurrency": int(float(row.get(CONCURRENCY_COLUMN) or 0))}
    return best


def candidate_of(cfg, fmt: str):
    """The tune candidate a served ``ModelConfig`` amounts to (the axes both searches sweep)."""
    from tritonctl.tune.candidates import Candidate

    return Candidate(format=fmt, max_batch_size=cfg.max_batch_size,
                     preferred_batch_size=tuple(cfg.dynamic_batching.preferred_batch_size),
                     max_queue_delay_microseconds=cfg.dynamic_batching.max_queue_delay_microseconds,
                     instance_count=sum(g.count or 1 for g in cfg.instance_group) or 1)
