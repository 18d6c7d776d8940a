"""Side by side: our local Triton against TorchServe, a Flask microservice and the in-process limit.

Same models (the digits ConvNet, the ResNet-18-style classifier), same inputs (one random
float32 sample per request, the same bytes for every system), the same closed-loop load
generator (tritonctl.bench's ``measure_level``: windows until perf_analyzer's stability rule
holds; one request function per system) at the same concurrencies, one run, one machine:

  inproc-onnxruntime / inproc-torchscript   the model called in this process; "concurrency" c is
                                            the batch size c (the limit: the best of them)
  triton-{onnx,torchscript}-{grpc,http}     `tritonctl serve`'s Triton (explicit mode); Triton's gRPC
                                            stub or a raw HTTP POST (binary tensors), request built once
  torchserve                                TorchServe 0.12 + benchmarks/torchserve_handler.py, raw
                                            float32 body, server-side batching (see --ts-*)
  flask                                     benchmarks/flask_app.py under gunicorn, one worker per core
  {litserve,bentoml,rayserve}-{onnx,torchscript}
                                            the Python servers people pick today, each in its own venv
                                            (.venv-<framework>), serving the ONNX file on onnxruntime and
                                            the TorchScript file on torch.jit with the framework's own
                                            batching (benchmarks/<framework>_app.py, peer_runtime.py)

All servers are started first (an idle server costs no CPU); then, at each (model, concurrency)
point, every system is measured in turn, for --rounds rounds in rotated order, and each point
reports its best round. On a machine shared with other work this keeps a burst of background
load from landing on one system only.

Usage (what `make bench-peers` runs)::

    .venv/bin/python benchmarks/peers.py --peers-venv .venv-peers --results-md benchmarks/RESULTS.md

It prints the table, writes benchmarks/.work/peers/{results.json,results.csv,peers.png} and, with
--results-md, the Markdown report (and peers.png beside it).

The models' shapes, served names and tensor names come from models.yaml (--spec). This file
parses options and runs the steps; the parts live beside it: ``peers_servers.py`` (models,
repository snapshot, starting and stopping every server), ``peers_measure.py`` (one request
function per system, the interleaved rounds) and ``peers_report.py`` (tables, targets, plot,
Markdown).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from peers_measure import GENERATOR, SYSTEMS, InProcess, best_of_rounds, run_interleaved  # noqa: E402
from peers_report import machine, markdown, plot, print_table  # noqa: E402
from peers_servers import (  # noqa: E402
    CORES, FORMATS, PYTHON_PEERS, Servers, artifact, log, models_from_spec, snapshot, start_flask, start_torchserve,
    start_triton,
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="digits,resnet18")
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--concurrency", default="1,2,4,8,16,32")
    p.add_argument("--duration", type=float, default=3.0, help="measured seconds per point (windows of a third)")
    p.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each point")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds; each point reports its best round")
    p.add_argument("--triton-client", choices=["raw", "tritonclient"], default="raw",
                   help="raw: Triton's gRPC stub / a raw HTTP POST with the request built once (as perf_analyzer "
                        "and the peers' clients do); tritonclient: its asyncio clients, request built per call")
    p.add_argument("--spec", default=str(ROOT / "models.yaml"), help="models.yaml: shapes, served and tensor names")
    p.add_argument("--repository", default=str(ROOT / "model_repository"))
    p.add_argument("--peers-venv", default=str(ROOT / ".venv-peers"), help="venv with torchserve, torch-model-archiver, flask, gunicorn")
    p.add_argument("--work", default=str(ROOT / "benchmarks" / ".work"))
    p.add_argument("--results-md", help="write the Markdown report here (e.g. benchmarks/RESULTS.md)")
    p.add_argument("--conditions", default="other work may have shared the machine during the run",
                   help="a sentence for the report: what else ran")
    p.add_argument("--inproc-torch-threads", type=int, default=1,
                   help="torch intra-op threads in-process (1: OpenMP's spin-waits collapse on shared cores; onnxruntime uses all cores)")
    p.add_argument("--ts-workers", type=int, default=CORES, help="TorchServe workers per model (torch threads = cores / workers)")
    p.add_argument("--ts-batch", default="digits=16,resnet18=8", help="batch size per model: TorchServe batchSize, and the Python peers' max batch")
    p.add_argument("--ts-delay-ms", default="digits=2,resnet18=5", help="batch wait (ms) per model: TorchServe maxBatchDelay, and the Python peers' batch timeout")
    p.add_argument("--peer-workers", type=int, default=CORES,
                   help="LitServe workers / BentoML workers / Ray Serve replicas per model (threads = cores / workers)")
    for fw in PYTHON_PEERS:
        p.add_argument(f"--{fw}-venv", default=str(ROOT / f".venv-{fw}"), help=f"venv with {fw} (make peers-install)")
    p.add_argument("--triton-instances", default="torchscript=2",
                   help="instance count per format loaded over the repository's (tune's pick; '' keeps the repository's)")
    p.add_argument("--report-only", metavar="RESULTS_JSON", help="re-render the table, plot and Markdown from a results.json")
    args = p.parse_args(argv)
    if args.report_only:
        data = json.loads(Path(args.report_only).read_text())
        rows, meta = data["rows"], data["meta"]
        models = list(dict.fromkeys(r["model"] for r in rows))
        print_table(rows, models)
        plot(rows, models, Path(args.report_only).parent / "peers.png")
        if args.results_md:
            Path(args.results_md).write_text(markdown(rows, models, meta, data.get("all_rounds", ())))
            shutil.copy(Path(args.report_only).parent / "peers.png", Path(args.results_md).parent / "peers.png")
        return 0
    args.triton_instances = {k: int(v) for k, v in (x.split("=") for x in args.triton_instances.split(",") if x)}
    args.ts_batch = {k: int(v) for k, v in (x.split("=") for x in args.ts_batch.split(","))}
    args.ts_delay_ms = {k: int(v) for k, v in (x.split("=") for x in args.ts_delay_ms.split(","))}
    models = [m for m in args.models.split(",") if m]
    systems = [s for s in args.systems.split(",") if s]
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        p.error(f"unknown systems {unknown}; systems: {SYSTEMS}")
    try:
        peer_models = list(models_from_spec(Path(args.spec), models).values())
    except ValueError as exc:
        p.error(str(exc))
    no_ts = [m for m in models if m not in args.ts_batch or m not in args.ts_delay_ms]
    if no_ts and any(s == "torchserve" or s.split("-")[0] in PYTHON_PEERS for s in systems):
        p.error(f"--ts-batch and --ts-delay-ms need a value for {no_ts}, e.g. --ts-batch {no_ts[0]}=8")
    conc = [int(c) for c in args.concurrency.split(",")]
    repo, work, venv = Path(args.repository).resolve(), Path(args.work).resolve(), Path(args.peers_venv).resolve()
    for m in peer_models:
        for f in FORMATS:
            try:
                path = artifact(repo, m, f)
            except FileNotFoundError as exc:
                p.error(str(exc))
            if not path.exists():
                p.error(f"{path} is missing: run `make models` first")
    repo = snapshot(repo, peer_models, work / "repo")
    out = work / "peers"
    out.mkdir(parents=True, exist_ok=True)
    all_rows: list[dict] = []
    rows: list[dict] = []
    started = dt.datetime.now(dt.timezone.utc)
    load_start = os.getloadavg()
    servers = Servers()
    try:
        if any(s.startswith("triton-") for s in systems):
            start_triton(servers, peer_models, repo, work, args.triton_instances)
        if "torchserve" in systems:
            start_torchserve(servers, peer_models, repo, work, venv, args)
        if "flask" in systems:
            start_flask(servers, peer_models, repo, work, venv)
        for fw, peer in PYTHON_PEERS.items():
            if any(s.startswith(f"{fw}-") for s in systems):
                peer(getattr(args, f"{fw}_venv"), args.peer_workers, args.ts_batch, args.ts_delay_ms).start(
                    servers, peer_models, repo, work)
        inproc = InProcess(repo, peer_models, args.inproc_torch_threads) if any(s.startswith("inproc-") for s in systems) else None
        log(f"all servers up; {args.rounds} interleaved round(s)")
        all_rows = run_interleaved(peer_models, [s for s in SYSTEMS if s in systems], conc, args.rounds, args.duration,
                                   args.warmup, servers, inproc, args.triton_client)
        rows = best_of_rounds(all_rows)
    finally:
        servers.stop()
        meta = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(), "conditions": args.conditions,
                "load": "load average (1/5/15 min) at start {:.1f}/{:.1f}/{:.1f}, at end {:.1f}/{:.1f}/{:.1f}".format(
                    *load_start, *os.getloadavg()),
                "concurrency": conc, "duration": args.duration, "generator": GENERATOR, "warmup": args.warmup,
                "rounds": args.rounds, "triton_client": args.triton_client,
                "triton": f"repository configs from models.yaml; instance overrides {args.triton_instances}",
                "inproc": f"onnxruntime {CORES} intra-op threads; torch {args.inproc_torch_threads} thread(s)",
                "peers": f"TorchServe 0.12.0 (workers {args.ts_workers}, batchSize {args.ts_batch}, maxBatchDelay ms {args.ts_delay_ms}); "
                         f"Flask under gunicorn, {CORES} sync workers x 1 torch thread; "
                         f"LitServe / BentoML / Ray Serve: {args.peer_workers} workers (replicas) per model x "
                         f"{max(1, CORES // args.peer_workers)} thread(s), the same batch sizes (and waits, but BentoML's) as TorchServe "
                         "(LitAPI max_batch_size/batch_timeout, @bentoml.api max_batch_size with its adaptive wait and max_latency_ms 10 s, "
                         "@serve.batch max_batch_size/batch_wait_timeout_s)"}
        (out / "results.json").write_text(json.dumps({"meta": meta, "rows": rows, "all_rounds": all_rows}, indent=2))
        with open(out / "results.csv", "w", newline="") as f:
            fields = sorted({k for r in all_rows for k in r}, key=lambda k: list(all_rows[0]).index(k) if k in all_rows[0] else 99)
            wr = csv.DictWriter(f, fieldnames=fields or ["model"])
            wr.writeheader()
            wr.writerows(all_rows)
    if not rows:
        return 1
    print_table(rows, models)
    plot(rows, models, out / "peers.png")
    log(f"wrote {out}/results.json, results.csv, peers.png")
    if args.results_md:
        md = Path(args.results_md)
        md.write_text(markdown(rows, models, meta, all_rows))
        shutil.copy(out / "peers.png", md.parent / "peers.png")
        log(f"wrote {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
