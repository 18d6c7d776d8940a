"""A short side-by-side: an archive imported by `tritonctl import`, served by Triton, against
TorchServe serving the original archive. Same request bodies (PNG digits), HTTP on both sides,
the project's one closed loop (tritonctl.bench.sweep.measure_level).

The archive is the import tests' seed-style MNIST archive (custom BaseHandler, eager state_dict),
archived with batchSize 8 / maxBatchDelay 2 ms / 2 workers in its model-config.yaml, which the
import maps to max_batch_size 8, a 2000 us queue delay and 2 instances.

    .venv/bin/python benchmarks/import_vs_torchserve.py --concurrency 1,8,16 --window 8
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "importer"), str(ROOT)]

import ts_archives  # noqa: E402  (the import tests' archive builders: the real torch-model-archiver)
from tritonctl import build, spec as spec_mod  # noqa: E402
from tritonctl.bench.sweep import measure_level  # noqa: E402
from tritonctl.importer import import_archives  # noqa: E402
from tritonctl.importer.verify import Triton, TorchServe, difference  # noqa: E402


async def run(args, work: Path) -> list[tuple]:
    import aiohttp
    import tritonclient.http.aio as aiohttpclient

    cfg = work / "mnist-config.yaml"
    cfg.write_text("batchSize: 8\nmaxBatchDelay: 2\nminWorkers: 2\nmaxWorkers: 2\n")
    mar = ts_archives.mnist(work / "store", work, config=cfg)
    project = work / "project"
    project.mkdir()
    (result,) = import_archives(mar, project / "models.yaml", samples=ts_archives.DIGITS[:2])
    build.build(spec_mod.load(project / "models.yaml"), project / "model_repository")
    bodies = [p.read_bytes() for p in ts_archives.DIGITS]
    rows = []
    # TorchServe tuned as benchmarks/peers.py tunes it (its own throughput advice)
    tuning = {"async_logging": "true", "metrics_mode": "prometheus", "job_queue_size": "1000",
              "number_of_netty_threads": "2", "netty_client_threads": "2"}
    with TorchServe(ts_archives.PEERS_VENV, [mar], work / "ts", tuning) as ts, Triton(project / "model_repository", work / "tr") as tr:
        for b in bodies:  # the answers agree before anything is timed
            status, want = ts.predict("mnist", b)
            assert status == 200 and difference(want, tr.predict("mnist", b)) is None
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session, \
                aiohttpclient.InferenceServerClient(tr.http_url) as client:
            counter = {"i": 0}

            def next_body() -> bytes:
                counter["i"] += 1
                return bodies[counter["i"] % len(bodies)]

            async def send_ts():
                async with session.post(f"{ts.url}/predictions/mnist", data=next_body()) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"TorchServe {r.status}")

            async def send_triton():
                inp = aiohttpclient.InferInput("BODY", [1, 1], "BYTES")
                inp.set_data_from_numpy(np.array([[next_body()]], dtype=object))
                await client.infer("mnist", [inp])

            for c in args.concurrency:
                for system, send in (("torchserve (original .mar)", send_ts), ("triton (imported ensemble)", send_triton)):
                    m = await measure_level(send, c, args.window, warmup_s=2.0, label=system)
                    rows.append((c, system, m.throughput, m.p50_ms, m.p99_ms, m.errors))
                    print(f"c={c:3d} {system:28s} {m.throughput:8.1f} req/s  p50 {m.p50_ms:6.2f} ms  p99 {m.p99_ms:6.2f} ms  errors {m.errors}", flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--concurrency", default="1,8,16", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--window", type=float, default=8.0, help="measured seconds per point")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="import-bench-") as tmp:
        rows = asyncio.run(run(args, Path(tmp)))
    print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.node()}, python {platform.python_version()}")
    print("| concurrency | system | req/s | p50 ms | p99 ms | errors |\n| ---: | --- | ---: | ---: | ---: | ---: |")
    for c, system, thr, p50, p99, err in rows:
        print(f"| {c} | {system} | {thr:.1f} | {p50:.2f} | {p99:.2f} | {err} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
