"""How many requests per second can Locust drive? Locust (1 process, N processes) next to perf_analyzer.

    python loadtest/measure_generator.py --http localhost:8000 --grpc localhost:8001 --model linear \
        --users 8 --duration 15 --processes 2

Against a trivial model the server answers in well under a millisecond, so the figures are the
load generator's ceiling, not the server's. Each protocol is measured perf_analyzer first, then
Locust with 1 process, then with ``--processes``; the same concurrency (users = perf_analyzer's
concurrency). Prints a Markdown table for loadtest/README.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    from tritonctl import client as tc
    from tritonctl.bench import perf_analyzer as pa
    from tritonctl.bench.locust_run import run_headless
    from tritonctl.endpoints import DEFAULT_URLS
    from tritonctl.statedir import DEFAULT_STATE_DIR

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--http", default=DEFAULT_URLS["http"])
    p.add_argument("--grpc", default=DEFAULT_URLS["grpc"])
    p.add_argument("--model", default="linear")
    p.add_argument("--users", type=int, default=8)
    p.add_argument("--duration", type=int, default=15)
    p.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    p.add_argument("--protocols", default="grpc,http")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR)
    a = p.parse_args(argv)

    tool = pa.ensure_installed(a.state_dir)
    c = tc.make_client(f"grpc://{a.grpc}")
    cfg = tc.get_config(c, a.model)
    c.close()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for proto in a.protocols.split(","):
            url = a.grpc if proto == "grpc" else a.http
            r = pa.run(tool, a.model, url, proto, [a.users], window_ms=3000, config=cfg)[0]
            rows.append((proto, "perf_analyzer (C++)", a.users, r.infer_per_s, r.p99_ms, "stable" if r.stable else "unstable"))
            for procs in (None, a.processes):
                s = run_headless(a.http, a.model, users=a.users, duration=a.duration, protocol=proto,
                                 grpc_host=a.grpc, out_dir=Path(tmp) / f"{proto}{procs or 1}", max_fail_ratio=None,
                                 processes=procs)
                rows.append((proto, f"Locust, {procs or 1} process{'es' if procs else ''}", a.users, s["rps"],
                             s["p99_ms"], f"{s['failures']} failures"))
                time.sleep(1)
    print(f"<!-- {platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, model {a.model} -->")
    print("| protocol | generator | concurrency / users | requests/s | p99 ms | note |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    pa_rps = {}
    for proto, gen, u, rps, p99, note in rows:
        if gen.startswith("perf_analyzer"):
            pa_rps[proto] = rps
            share = ""
        else:
            share = f" ({100 * rps / pa_rps[proto]:.0f}% of perf_analyzer)" if pa_rps.get(proto) else ""
        print(f"| {proto} | {gen} | {u} | {rps:.0f}{share} | {p99:.1f} | {note} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
