"""`make bench-precision`: FP32 vs INT8 dynamic vs INT8 static (QDQ) vs FP16, for resnet18 and digits,
in-process (onnxruntime, 2 threads) and served (the local Triton, gRPC), side by side in one run.

1. Build: models.yaml's digits and resnet18 with three precision variants each, into a scratch
   repository, by `tritonctl build`'s own library call (so every variant passed its gate).
   digits calibrates on 256 real training digits and is graded on its 360 held-out test digits;
   resnet18 has random weights and no data, so it calibrates and is graded on samples drawn
   from its declared input (the warning a user would see says so).
2. In-process: one onnxruntime session per file, 2 intra-op threads, batch 8, for SECONDS each,
   variants interleaved per round so a noisy neighbour hits all of them alike.
3. Served: a local Triton on that repository (``LocalServer``, what `tritonctl serve` runs);
   CONCURRENCY closed-loop gRPC clients send batch-1 requests (dynamic batching forms the batches)
   for SECONDS per model.
Results: benchmarks/precision.md and .csv, with the machine and the date.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VARIANTS = [("fp32", None), ("int8_dynamic", {"type": "int8_dynamic"}), ("int8_static", {"type": "int8_static"}),
            ("fp16", {"type": "fp16"})]
BATCH, THREADS = 8, 2


def build_repo(work: Path, models: list[str]) -> tuple[Path, dict, dict]:
    """(the repository, each served model's gate record, the served name of each (model, variant))."""
    from examples.digits import dataset
    from tritonctl import build, spec as spec_mod

    train_x, _, test_x, _ = dataset()
    np.savez(work / "digits_calib.npz", image=train_x[:256].numpy())
    np.savez(work / "digits_eval.npz", image=test_x.numpy())
    spec = spec_mod.load(ROOT / "models.yaml")
    spec.models = [m for m in spec.models if m.name in models]
    for m in spec.models:
        m.formats, m.serve = ["onnx"], "onnx"
        data = {"calibration": str(work / "digits_calib.npz"), "evaluation": str(work / "digits_eval.npz")} \
            if m.name == "digits" else {"samples": 64}
        m.precision = spec_mod.Precision.model_validate({**data, "variants": [v for _, v in VARIANTS if v]})
    names = {(m.name, "fp32"): m.name for m in spec.models}
    names.update({(m.name, v.type): m.variant_name(v) for m in spec.models for v in m.variants})
    repo = work / "repo"
    items = build.build(spec, repo, progress=lambda msg: print(f"  build: {msg}", flush=True))
    gates = {i.name: i.record["precision"]["gate"] for i in items if i.record and i.record.get("precision")}
    return repo, gates, names


def sample(model: str, n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    shape = (1, 28, 28) if model == "digits" else (3, 224, 224)
    return (rng.random((n, *shape)) if model == "digits" else rng.standard_normal((n, *shape))).astype(np.float32)


def in_process(repo: Path, names: dict, models: list[str], seconds: float, rounds: int) -> dict:
    import onnxruntime as ort

    out = {}
    for model in models:
        x = sample(model, BATCH)
        sessions = {}
        for variant, _ in VARIANTS:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = THREADS, 1
            sessions[variant] = ort.InferenceSession(str(repo / names[(model, variant)] / "1" / "model.onnx"), opts,
                                                     providers=["CPUExecutionProvider"])
            sessions[variant].run(None, {"image": x})
        lat = {v: [] for v in sessions}
        busy = {v: 0.0 for v in sessions}
        for _ in range(rounds):  # interleaved: each variant gets a slice of every round
            for variant, sess in sessions.items():
                end = time.perf_counter() + seconds / rounds
                while time.perf_counter() < end:
                    t = time.perf_counter()
                    sess.run(None, {"image": x})
                    dt = time.perf_counter() - t
                    lat[variant].append(dt)
                    busy[variant] += dt
        for variant in sessions:
            out[(model, variant)] = {"inproc_per_s": len(lat[variant]) * BATCH / busy[variant],
                                     "inproc_p99_ms": float(np.percentile(lat[variant], 99) * 1e3)}
            print(f"  in-process {model} {variant}: {out[(model, variant)]['inproc_per_s']:.0f}/s", flush=True)
    return out


def _closed_loop(url: str, name: str, x: np.ndarray, seconds: float, concurrency: int) -> list[float]:
    """``concurrency`` gRPC clients, each sending its next request when the last one returns, for
    ``seconds`` (timed from when all are connected and warm); the latencies of every request."""
    import tritonclient.grpc as grpcclient

    lat: list[float] = []
    ready, stop = threading.Barrier(concurrency + 1), threading.Event()

    def worker():
        client = grpcclient.InferenceServerClient(url)
        inp = grpcclient.InferInput("image", list(x.shape), "FP32")
        inp.set_data_from_numpy(x)
        for _ in range(2):
            client.infer(name, [inp])  # the connection and the first batches are not measured
        ready.wait()
        mine = []
        while not stop.is_set():
            t = time.perf_counter()
            client.infer(name, [inp])
            mine.append(time.perf_counter() - t)
        lat.extend(mine)
        client.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    ready.wait()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return lat


def served(repo: Path, work: Path, names: dict, models: list[str], seconds: float, rounds: int,
           concurrency: int) -> dict:
    from tritonctl.endpoints import free_ports
    from tritonctl.server.health import failed_models
    from tritonctl.server.launcher import LocalServer, ServerOptions

    http, grpc, metrics = free_ports(3)
    opts = ServerOptions(repository=repo, http_port=http, grpc_port=grpc, metrics_port=metrics, address="127.0.0.1",
                         state_dir=work / "state", exit_timeout_secs=10)
    server = LocalServer(opts)
    out = {}
    try:
        server.start()  # tritonserver in its own process group: stop() below ends all of it
        failed = failed_models(server.wait_ready(300))
        if failed:
            raise SystemExit(f"Triton did not load {[m.name for m in failed]}; log: {opts.log_path}")
        url = f"127.0.0.1:{grpc}"
        for model in models:
            x = sample(model, 1)
            lat = {v: [] for v, _ in VARIANTS}
            spent = {v: 0.0 for v, _ in VARIANTS}
            for _ in range(rounds):  # interleaved like in-process: drift hits every variant alike
                for variant, _ in VARIANTS:
                    t0 = time.perf_counter()
                    lat[variant] += _closed_loop(url, names[(model, variant)], x, seconds / rounds, concurrency)
                    spent[variant] += time.perf_counter() - t0
            for variant, _ in VARIANTS:
                out[(model, variant)] = {"served_per_s": len(lat[variant]) / spent[variant],
                                         "served_p99_ms": float(np.percentile(lat[variant], 99) * 1e3)}
                print(f"  served {names[(model, variant)]}: {out[(model, variant)]['served_per_s']:.0f}/s", flush=True)
    finally:
        server.stop(timeout=60)
    return out


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    flags = next((line.split(":", 1)[1].split() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("flags")), [])
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    import onnxruntime

    return f"{cpu}, {os.cpu_count()} cores ({', '.join(isa) or 'no AVX2'}), onnxruntime {onnxruntime.__version__}"


def write(rows: list[dict], md: Path, args, when: str, host: str) -> None:
    fields = ["model", "variant", "served_as", "metric", "gate_value", "gate_threshold", "inproc_per_s",
              "inproc_x", "inproc_p99_ms", "served_per_s", "served_x", "served_p99_ms"]
    with open(md.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    lines = [
        "# Precision variants: FP32 vs INT8 vs FP16 (`make bench-precision`)", "",
        f"Measured {when} on {host}; CPU only, client and server on the same cores.", "",
        f"In-process: onnxruntime, {THREADS} intra-op threads, batch {BATCH}, {args.seconds:g} s per variant in "
        f"{args.rounds} interleaved rounds; samples/s and p99 of one batch call. Served: the local Triton "
        f"(`tritonctl serve`, the variants' own config.pbtxt), {args.concurrency} closed-loop gRPC clients sending "
        f"batch-1 requests for {args.seconds:g} s per variant, interleaved the same way; inferences/s and p99 request latency. The accuracy column is "
        "the build's gate against the FP32 model: top-1 agreement on digits' 360 held-out test digits "
        "(calibrated on 256 training digits) and on 64 drawn samples for resnet18 (random weights, no data: it "
        "calibrates on drawn samples too).", "",
        "| model | variant | served as | accuracy gate | in-process /s | × FP32 | p99 ms | served /s | × FP32 | p99 ms |",
        "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        gate = "reference" if r["variant"] == "fp32" else f"{r['metric']} {r['gate_value']:.4f} (≥ {r['gate_threshold']:g})"
        lines.append(f"| {r['model']} | {r['variant']} | `{r['served_as']}` | {gate} | {r['inproc_per_s']:.0f} | "
                     f"{r['inproc_x']:.2f} | {r['inproc_p99_ms']:.2f} | {r['served_per_s']:.0f} | {r['served_x']:.2f} | "
                     f"{r['served_p99_ms']:.2f} |")
    res = {r["variant"]: r for r in rows if r["model"] == "resnet18"}
    if "int8_static" in res:
        s = res["int8_static"]
        met = s["served_x"] >= 1.5 and s["gate_value"] >= 0.99
        lines += ["", f"Goal: resnet18 INT8 served ≥ 1.5× FP32 served with top-1 agreement ≥ 99 %: "
                      f"INT8 static ran {s['served_x']:.2f}× served ({s['inproc_x']:.2f}× in-process) with "
                      f"{s['metric']} {s['gate_value']:.4f}: {'met' if met else 'not met'}."]
    lines += ["", "Which variant to choose, and why dynamic INT8 and FP16 lose here: [docs/precision.md](../docs/precision.md).",
              f"Raw figures: [precision.csv](precision.csv). Re-run: `make bench-precision`.", ""]
    md.write_text("\n".join(lines))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet18,digits")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--results-md", type=Path, default=ROOT / "benchmarks" / "precision.md")
    args = p.parse_args(argv)
    models = args.models.split(",")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    with tempfile.TemporaryDirectory(prefix="bench-precision-") as tmp:
        work = Path(tmp)
        print("building the variants", flush=True)
        repo, gates, names = build_repo(work, models)
        print("in-process", flush=True)
        inproc = in_process(repo, names, models, args.seconds, args.rounds)
        print("served", flush=True)
        serve = served(repo, work, names, models, args.seconds, args.rounds, args.concurrency)
    rows = []
    for model in models:
        for variant, _ in VARIANTS:
            name = names[(model, variant)]
            g = gates.get(name, {"metric": "", "value": 1.0, "threshold": 0})
            r = {"model": model, "variant": variant, "served_as": name, "metric": g["metric"],
                 "gate_value": g["value"], "gate_threshold": g["threshold"],
                 **inproc[(model, variant)], **serve[(model, variant)]}
            r["inproc_x"] = r["inproc_per_s"] / inproc[(model, "fp32")]["inproc_per_s"]
            r["served_x"] = r["served_per_s"] / serve[(model, "fp32")]["served_per_s"]
            rows.append(r)
    write(rows, args.results_md, args, when, machine())
    print(args.results_md.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
