"""TorchServe's settings -> Triton's config fields, and a list of what has no equivalent.

Per-model settings come from the archive's model-config.yaml (`--config-file`) and, overriding
it, the per-model `models=` JSON of config.properties (the order in which TorchServe applies
them). Server-wide keys of config.properties are listed with their Triton counterpart (a
`tritonctl serve` flag, the chart) or as having none: nothing is dropped silently.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from tritonctl.importer.archive import ArchiveError

# TorchServe's own defaults (frontend ConfigManager / ModelConfig) for the keys we map.
TS_DEFAULT_BATCH_DELAY_MS = 100
# Server-wide config.properties keys with a Triton counterpart (not a per-model config field).
SERVER_KEYS = {
    "inference_address": "tritonctl serve --http-port / --address (gRPC: --grpc-port)",
    "management_address": "Triton's repository API on the same HTTP port (tritonctl load/unload)",
    "metrics_address": "tritonctl serve --metrics-port (Prometheus text at /metrics)",
    "metrics_mode": "Triton's metrics are always Prometheus text",
    "model_store": "the model repository (tritonctl build writes it; tritonctl serve REPO)",
    "load_models": "tritonctl serve loads every model of the repository",
    "number_of_netty_threads": "Triton's HTTP thread count (tritonserver --http-thread-count)",
    "netty_client_threads": "Triton's HTTP thread count (tritonserver --http-thread-count)",
    "default_workers_per_model": "instance_groups count per model",
    "disable_token_authorization": "Triton has no token auth: put it behind the chart's ingress/gateway",
    "enable_envvars_config": "no equivalent (Triton reads flags and config.pbtxt)",
    "install_py_dep_per_model": "requirements.txt is copied beside each Python model; install it into the "
    "Python backend's environment (EXECUTION_ENV_PATH or the image)",
    "async_logging": "no equivalent (Triton's --log-* flags)",
    "vmargs": "no JVM in Triton",
}


@dataclass
class ModelSettings:
    batch_size: int = 1
    max_batch_delay_ms: int = TS_DEFAULT_BATCH_DELAY_MS
    min_workers: int | None = None
    max_workers: int | None = None
    response_timeout_s: int | None = None
    device_type: str | None = None
    job_queue_size: int | None = None
    sources: dict = field(default_factory=dict)  # key -> where it came from, for the report


@dataclass
class Mapping:
    """What the import writes into models.yaml for the model, the Python steps and the ensemble."""

    max_batch_size: int
    dynamic_batching: dict | bool
    instance_count: int
    instance_kind: str
    mapped: list[str]  # "batchSize 8 -> max_batch_size 8" lines
    unmapped: list[str]  # settings with no Triton equivalent, with what to do instead


def parse_properties(text: str) -> dict[str, str]:
    """A Java .properties file: `key=value`, `key: value` or `key value`, `#`/`!` comments,
    a trailing backslash continues the line (TorchServe's `models=` JSON usually spans lines)."""
    props: dict[str, str] = {}
    logical, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip() if not pending else raw.lstrip()
        if not pending and (not line or line[0] in "#!"):
            continue
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1]
            continue
        logical.append(pending + line)
        pending = ""
    if pending:
        logical.append(pending)
    for line in logical:
        m = re.match(r"^((?:\\.|[^=:\s])+)\s*[=:\s]\s*(.*)$", line)
        if m:
            props[m.group(1).replace("\\", "")] = m.group(2).strip()
        else:
            props[line.strip()] = ""
    return props


def _int(value, where: str, key: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ArchiveError(f"{where}: {key} must be an integer, got {value!r}; fix it") from None


def model_settings(archive_name: str, archive_version: str, yaml_config: dict, props: dict[str, str] | None,
                   props_path: Path | None) -> tuple[ModelSettings, list[str]]:
    """Merge model-config.yaml and config.properties for one model; returns settings + notes."""
    s = ModelSettings()
    notes: list[str] = []
    layers: list[tuple[str, dict]] = [("model-config.yaml", yaml_config or {})]
    if props:
        if "default_response_timeout" in props:
            layers.insert(0, (f"{props_path} default_response_timeout", {"responseTimeout": props["default_response_timeout"]}))
        if "default_workers_per_model" in props:
            n = props["default_workers_per_model"]
            layers.insert(0, (f"{props_path} default_workers_per_model", {"minWorkers": n, "maxWorkers": n}))
        if "job_queue_size" in props:
            layers.insert(0, (f"{props_path} job_queue_size", {"jobQueueSize": props["job_queue_size"]}))
        if props.get("models"):
            try:
                models = json.loads(props["models"])
            except json.JSONDecodeError as exc:
                raise ArchiveError(f"{props_path}: `models=` is not valid JSON ({exc}); fix the JSON "
                                   "(a trailing backslash continues a line)") from None
            versions = models.get(archive_name) if isinstance(models, dict) else None
            if isinstance(versions, dict) and versions:
                chosen = versions.get(archive_version)
                if chosen is None:
                    default = [v for v, c in versions.items() if isinstance(c, dict) and c.get("defaultVersion")]
                    chosen = versions[default[0] if default else sorted(versions)[-1]]
                others = sorted(set(versions) - {archive_version})
                if others:
                    notes.append(f"config.properties lists versions {sorted(versions)} of {archive_name}; this import "
                                 f"is version {archive_version}: import each archive version to its own name, or build "
                                 "them one after another into the same model (each build adds a version directory)")
                layers.append((f"{props_path} models.{archive_name}", chosen))
    keys = {"batchSize": "batch_size", "maxBatchDelay": "max_batch_delay_ms", "minWorkers": "min_workers",
            "maxWorkers": "max_workers", "responseTimeout": "response_timeout_s", "jobQueueSize": "job_queue_size"}
    for where, layer in layers:
        for key, value in layer.items():
            if key in keys:
                setattr(s, keys[key], _int(value, where, key))
                s.sources[key] = where
            elif key == "deviceType":
                s.device_type = str(value).lower()
                s.sources[key] = where
            elif key in ("handler", "marName", "defaultVersion"):
                continue  # the handler's own section stays in model-config.yaml, read by the handler
            else:
                notes.append(f"{key}={value} ({where}): no Triton equivalent; left out")
    if s.batch_size < 1:
        raise ArchiveError(f"{s.sources.get('batchSize')}: batchSize must be >= 1, got {s.batch_size}; fix it")
    return s, notes


def map_settings(s: ModelSettings, props: dict[str, str] | None, notes: list[str]) -> Mapping:
    mapped, unmapped = [], list(notes)
    mbs = max(s.batch_size, 1)
    mapped.append(f"batchSize {s.batch_size} -> max_batch_size {mbs}")
    db: dict | bool = False
    if s.batch_size > 1:
        db = {"max_queue_delay_microseconds": s.max_batch_delay_ms * 1000}
        mapped.append(f"maxBatchDelay {s.max_batch_delay_ms} ms -> dynamic_batching.max_queue_delay_microseconds "
                      f"{s.max_batch_delay_ms * 1000}")
    elif "maxBatchDelay" in s.sources:
        unmapped.append(f"maxBatchDelay {s.max_batch_delay_ms} ms: batchSize is 1, so there is no batch to wait for")
    policy = {}
    if s.response_timeout_s is not None:
        policy["default_timeout_microseconds"] = s.response_timeout_s * 1_000_000
        policy["timeout_action"] = "reject"
        mapped.append(f"responseTimeout {s.response_timeout_s} s -> dynamic_batching.default_queue_policy."
                      f"default_timeout_microseconds {s.response_timeout_s * 1_000_000} (Triton times out requests "
                      "still queued; TorchServe also restarted a worker that ran over)")
    if s.job_queue_size is not None:
        policy["max_queue_size"] = s.job_queue_size
        mapped.append(f"job_queue_size {s.job_queue_size} -> dynamic_batching.default_queue_policy.max_queue_size")
    if policy:
        db = dict(db) if isinstance(db, dict) else {"max_queue_delay_microseconds": 0}
        db["default_queue_policy"] = policy
    workers = s.max_workers or s.min_workers or 1
    if s.min_workers is not None or s.max_workers is not None:
        mapped.append(f"minWorkers/maxWorkers {s.min_workers}/{s.max_workers} -> instance_groups count {workers}")
        if s.min_workers is not None and s.max_workers is not None and s.min_workers != s.max_workers:
            unmapped.append(f"minWorkers {s.min_workers} < maxWorkers {s.max_workers}: Triton runs a fixed instance "
                            f"count ({workers}); scale replicas with the chart's autoscaling instead")
    kind = {"gpu": "gpu", "cpu": "cpu"}.get(s.device_type or "", "auto")
    if s.device_type:
        mapped.append(f"deviceType {s.device_type} -> instance_groups kind {kind}")
    for key, value in sorted((props or {}).items()):
        if key in ("models", "default_response_timeout", "default_workers_per_model", "job_queue_size"):
            continue
        hint = SERVER_KEYS.get(key)
        unmapped.append(f"{key}={value}: " + (f"server setting, in Triton: {hint}" if hint else "no Triton equivalent; left out"))
    return Mapping(mbs, db, workers, kind, mapped, unmapped)
