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

All servers are started first (an idle server costs no CPU); then, at each (model, concurrency)
point, every system is measured in turn, for --rounds rounds in rotated order, and each point
reports its best round. On a machine shared with other work this keeps a burst of background
load from landing on one system only.

Usage (what `make bench-peers` runs)::

    .venv/bin/python benchmarks/peers.py --peers-venv .venv-peers --results-md benchmarks/RESULTS.md

It prints the table, writes benchmarks/.work/peers/{results.json,results.csv,peers.png} and, with
--results-md, the Markdown report (and peers.png beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from tritonctl.bench.stability import StabilityRule  # noqa: E402
from tritonctl.bench.sweep import measure_level  # noqa: E402 - THE closed loop of `tritonctl bench` and tune
from tritonctl.tune.load import TritonTarget, Window  # noqa: E402

GENERATOR = "tritonctl.bench.sweep.measure_level"

MODELS = {
    "digits": {"shape": (1, 28, 28), "onnx": "digits", "torchscript": "digits_torchscript",
               "in": "image", "out": "logits", "ts_in": "image__0", "ts_out": "logits__0"},
    "resnet18": {"shape": (3, 224, 224), "onnx": "resnet18", "torchscript": "resnet18_torchscript",
                 "in": "image", "out": "logits", "ts_in": "image__0", "ts_out": "logits__0"},
}
SYSTEMS = ["inproc-onnxruntime", "inproc-torchscript", "triton-onnx-grpc", "triton-onnx-http",
           "triton-torchscript-grpc", "triton-torchscript-http", "torchserve", "flask"]
CORES = len(os.sched_getaffinity(0))


async def measure(send, concurrency: int, duration: float, warmup: float, batch: int = 1, label: str = "") -> Window:
    """One concurrency level of ``send`` (a zero-argument coroutine function), by the shared generator.

    Windows of duration/3 s until three agree within 10 % (at most 6); the figures are the last
    three merged. Each request carries ``batch`` samples (throughput is samples/s).
    """
    async def counted():
        await send()
        return batch

    m = await measure_level(counted, concurrency, window_s=max(duration / 3, 0.5), warmup_s=warmup,
                            rule=StabilityRule(percentage=10.0, windows=3, max_windows=6), label=label)
    return Window.from_measurement(concurrency, m, stable=m.stable, windows=m.windows,
                                   client_cpu_pct=round(m.client_cpu_pct, 1))


def log(msg: str) -> None:
    print(f"[peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sample(model: str, batch: int = 1) -> np.ndarray:
    rng = np.random.default_rng(1234)
    return rng.random((batch, *MODELS[model]["shape"]), dtype=np.float32)


def latest(model_dir: Path) -> Path:
    """The highest numeric version directory of a published model."""
    versions = sorted((int(d.name), d) for d in model_dir.iterdir() if d.is_dir() and d.name.isdigit())
    if not versions:
        raise FileNotFoundError(f"{model_dir} has no version directory: run `make models` first")
    return versions[-1][1]


def snapshot(repo: Path, models: list[str], dest: Path) -> Path:
    """Copy the served models (config, labels, latest version) so a rebuild during the run cannot move them."""
    if dest.exists():
        shutil.rmtree(dest)
    for m in models:
        for fmt in ("onnx", "torchscript"):
            src = repo / MODELS[m][fmt]
            out = dest / src.name
            out.mkdir(parents=True)
            for f in src.iterdir():
                if f.is_file():
                    shutil.copy2(f, out / f.name)
            shutil.copytree(latest(src), out / latest(src).name)
    return dest


def artifact(repo: Path, model: str, fmt: str) -> Path:
    d = repo / MODELS[model][fmt]
    return latest(d) / ("model.onnx" if fmt == "onnx" else "model.pt")


def free_port() -> int:
    from tritonctl.server.launcher import free_port as fp

    return fp()


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it answered {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f}s")


def stop_group(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


# ---------------------------------------------------------------------------------------------
# the servers: all started first (idle servers cost no CPU), then measured interleaved
# ---------------------------------------------------------------------------------------------
class Servers:
    """Every server of the run, started once; ``urls`` per system family; ``stop()`` stops them all."""

    def __init__(self):
        self.urls: dict[str, str] = {}
        self._stops: list = []

    def stop(self) -> None:
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception as exc:  # stop the others anyway
                log(f"stopping: {exc}")


def start_triton(servers: Servers, models, repo: Path, work: Path, instances: dict) -> None:
    from tritonctl.server.launcher import LocalServer, ServerOptions

    names = [MODELS[m][f] for m in models for f in ("onnx", "torchscript")]
    opts = ServerOptions(repository=repo, http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(),
                         address="127.0.0.1", model_control_mode="explicit", load_models=names,
                         state_dir=work / "triton", exit_timeout_secs=5)
    server = LocalServer(opts).start()
    servers._stops.append(lambda: server.stop(timeout=30))
    index = server.wait_ready(300)
    bad = [m for m in index if m.get("name") in names and m.get("state") != "READY"]
    if bad:
        raise RuntimeError(f"Triton did not load {bad}; log: {opts.log_path}")
    if instances:  # the tuned instance counts, through the repository API (disk untouched)
        import tritonclient.http as httpclient

        from tritonctl.tune.runner import config_from_dict, config_to_json

        client = httpclient.InferenceServerClient(opts.http_url, network_timeout=300)
        for name in names:
            fmt = "torchscript" if name.endswith("_torchscript") else "onnx"
            if instances.get(fmt):
                cfg = config_from_dict(client.get_model_config(name))
                for g in cfg.instance_group:
                    g.count = instances[fmt]
                client.load_model(name, config=config_to_json(cfg))
                log(f"{name}: {instances[fmt]} instance(s)")
    servers.urls["triton-grpc"], servers.urls["triton-http"] = opts.grpc_url, opts.http_url


def start_torchserve(servers: Servers, models, repo, work, venv, args) -> None:
    ts_dir = work / "torchserve"
    if ts_dir.exists():
        shutil.rmtree(ts_dir)
    store = ts_dir / "model_store"
    store.mkdir(parents=True)
    for model in models:
        spec = MODELS[model]
        workers = args.ts_workers
        threads = max(1, CORES // workers)
        cfg = ts_dir / f"{model}-config.yaml"
        cfg.write_text(
            f"minWorkers: {workers}\nmaxWorkers: {workers}\nbatchSize: {args.ts_batch[model]}\n"
            f"maxBatchDelay: {args.ts_delay_ms[model]}\nresponseTimeout: 120\n"
            f"handler:\n  shape: {list(spec['shape'])}\n  threads: {threads}\n"
        )
        subprocess.run([str(venv / "bin" / "torch-model-archiver"), "--model-name", model, "--version", "1.0",
                        "--serialized-file", str(artifact(repo, model, "torchscript")),
                        "--handler", str(Path(__file__).parent / "torchserve_handler.py"),
                        "--config-file", str(cfg), "--export-path", str(store), "--force"], check=True)
    ports = {k: free_port() for k in ("inference", "management", "metrics")}
    props = ts_dir / "config.properties"
    props.write_text("\n".join([
        f"inference_address=http://127.0.0.1:{ports['inference']}",
        f"management_address=http://127.0.0.1:{ports['management']}",
        f"metrics_address=http://127.0.0.1:{ports['metrics']}",
        f"model_store={store}",
        "load_models=" + ",".join(f"{m}.mar" for m in models),
        "disable_token_authorization=true",
        "disable_system_metrics=true",
        "metrics_mode=prometheus",  # no per-request metric lines written to log files
        "async_logging=true",  # TorchServe's own advice for throughput
        "install_py_dep_per_model=false",
        "job_queue_size=1000",
        f"number_of_netty_threads={CORES}",
        f"netty_client_threads={CORES}",
        "default_response_timeout=120",
        "",
    ]))
    env = dict(os.environ, PATH=f"{venv / 'bin'}:{os.environ['PATH']}", LOG_LOCATION=str(ts_dir / "logs"),
               METRICS_LOCATION=str(ts_dir / "logs"))
    env.pop("PYTHONPATH", None)
    log_file = open(ts_dir / "torchserve.out", "wb")
    proc = subprocess.Popen([str(venv / "bin" / "torchserve"), "--start", "--foreground", "--ncs",
                             "--model-store", str(store), "--ts-config", str(props), "--disable-token-auth"],
                            cwd=ts_dir, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    servers._stops.append(lambda: (stop_group(proc), log_file.close()))
    wait_http(f"http://127.0.0.1:{ports['inference']}/ping", 180, proc, "torchserve")
    for model in models:  # ping answers before the workers are up: wait for each model's workers
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['management']}/models/{model}", timeout=5) as r:
                    info = json.loads(r.read())[0]
                if sum(1 for w in info.get("workers", []) if w.get("status") == "READY") >= args.ts_workers:
                    break
            except OSError:
                pass
            time.sleep(1)
        else:
            raise RuntimeError(f"torchserve workers for {model} not ready; see {ts_dir}/logs")
    servers.urls["torchserve"] = f"http://127.0.0.1:{ports['inference']}/predictions/{{model}}"


def start_flask(servers: Servers, models, repo, work, venv) -> None:
    port = free_port()
    env = dict(os.environ, TORCH_THREADS="1",
               PEERS_MODELS=",".join(f"{m}={artifact(repo, m, 'torchscript')}" for m in models))
    env.pop("PYTHONPATH", None)
    (work / "flask").mkdir(parents=True, exist_ok=True)
    log_file = open(work / "flask" / "gunicorn.log", "wb")
    proc = subprocess.Popen([str(venv / "bin" / "gunicorn"), "-w", str(CORES), "-b", f"127.0.0.1:{port}",
                             "--backlog", "2048", "--timeout", "120", "--chdir", str(Path(__file__).parent), "flask_app:app"],
                            env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    servers._stops.append(lambda: (stop_group(proc), log_file.close()))
    wait_http(f"http://127.0.0.1:{port}/ping", 120, proc, "gunicorn")
    servers.urls["flask"] = f"http://127.0.0.1:{port}/predict/{{model}}"


# ---------------------------------------------------------------------------------------------
# request functions, one per system (the only system-specific part)
# ---------------------------------------------------------------------------------------------
class InProcess:
    """The limit: the model called in this process; concurrency c runs batch c."""

    def __init__(self, repo: Path, models, torch_threads: int):
        import onnxruntime as ort
        import torch

        torch.set_num_threads(torch_threads)
        self.torch = torch
        self.ort, self.ts = {}, {}
        for model in models:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = CORES
            opts.inter_op_num_threads = 1
            self.ort[model] = ort.InferenceSession(str(artifact(repo, model, "onnx")), opts, providers=["CPUExecutionProvider"])
            self.ts[model] = torch.jit.load(str(artifact(repo, model, "torchscript")), map_location="cpu").eval()

    def send(self, system: str, model: str, batch: int):
        spec, x = MODELS[model], sample(model, batch)
        if system == "inproc-onnxruntime":
            sess = self.ort[model]

            async def send():
                sess.run([spec["out"]], {spec["in"]: x})
                await asyncio.sleep(0)  # let the generator's window timer run between calls
        else:
            m, t, torch = self.ts[model], self.torch.from_numpy(x), self.torch

            async def send():
                with torch.inference_mode():
                    m(t)
                await asyncio.sleep(0)

        return send


async def http_sender(url: str, body: bytes, headers: dict, stack):
    """A raw aiohttp POST of a prepared body: the same client code for Triton HTTP, TorchServe, Flask."""
    import aiohttp

    session = await stack.enter_async_context(
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=120)))

    async def send():
        async with session.post(url, data=body, headers=headers) as resp:
            payload = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {payload[:200]!r}")

    return send


async def triton_grpc_sender(url: str, model: str, inp: str, out: str, x: np.ndarray, stack):
    """Triton's gRPC protocol through its generated stub, the request built once (as perf_analyzer does)."""
    import grpc
    from tritonclient.grpc import service_pb2, service_pb2_grpc

    channel = grpc.aio.insecure_channel(url, options=[("grpc.max_receive_message_length", 2**30),
                                                      ("grpc.max_send_message_length", 2**30)])
    stack.push_async_callback(channel.close)
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    req = service_pb2.ModelInferRequest(model_name=model)
    t = req.inputs.add(name=inp, datatype="FP32")
    t.shape.extend(x.shape)
    req.outputs.add(name=out)
    req.raw_input_contents.append(x.tobytes())

    async def send():
        resp = await stub.ModelInfer(req)
        if not resp.raw_output_contents:
            raise RuntimeError("no output in the response")

    return send


def triton_http_body(inp: str, out: str, x: np.ndarray) -> tuple[bytes, dict]:
    """Triton's binary tensor extension: JSON header, then the raw input bytes; binary output."""
    header = json.dumps({"inputs": [{"name": inp, "shape": list(x.shape), "datatype": "FP32",
                                     "parameters": {"binary_data_size": x.nbytes}}],
                         "outputs": [{"name": out, "parameters": {"binary_data": True}}]}).encode()
    return header + x.tobytes(), {"Inference-Header-Content-Length": str(len(header)),
                                  "Content-Type": "application/octet-stream"}


async def measure_system(system: str, model: str, c: int, servers: Servers, inproc: InProcess | None,
                         duration: float, warmup: float, triton_client: str) -> Window:
    from contextlib import AsyncExitStack

    spec = MODELS[model]
    async with AsyncExitStack() as stack:
        if system.startswith("inproc-"):
            w = await measure(inproc.send(system, model, c), 1, duration, warmup, batch=c, label=system)
            w.concurrency = c
            return w
        if system.startswith("triton-"):
            _, fmt, proto = system.split("-")
            served = spec[fmt]
            inp, out = (spec["in"], spec["out"]) if fmt == "onnx" else (spec["ts_in"], spec["ts_out"])
            x = sample(model)
            url = servers.urls[f"triton-{proto}"]
            if triton_client == "tritonclient":
                target = await stack.enter_async_context(TritonTarget(url, proto, served, {inp: x}, [out]))
                send = target.__call__
            elif proto == "grpc":
                send = await triton_grpc_sender(url, served, inp, out, x, stack)
            else:
                body, headers = triton_http_body(inp, out, x)
                send = await http_sender(f"http://{url}/v2/models/{served}/infer", body, headers, stack)
        else:
            send = await http_sender(servers.urls[system].format(model=model), sample(model).tobytes(),
                                     {"Content-Type": "application/octet-stream"}, stack)
        await send()  # fail fast on a broken deployment
        return await measure(send, c, duration, warmup, label=system)


def run_interleaved(models, systems, concurrencies, rounds, duration, warmup, servers, inproc, triton_client) -> list[dict]:
    """Every (model, concurrency) point measures each system in turn, ``rounds`` times, rotating the
    order each round, so a burst of background load hits all systems alike; returns every window."""
    rows = []
    for r in range(rounds):
        for model in models:
            for c in concurrencies:
                k = (r + concurrencies.index(c)) % len(systems)
                for system in systems[k:] + systems[:k]:
                    try:
                        w = asyncio.run(measure_system(system, model, c, servers, inproc, duration, warmup, triton_client))
                    except Exception as exc:
                        w = Window(concurrency=c, errors=1, first_error=f"{type(exc).__name__}: {exc}")
                    add(rows, model, system, w, round_=r)
    return rows


def best_of_rounds(rows: list[dict]) -> list[dict]:
    """Per (model, system, concurrency): the round with the most throughput (background load only slows)."""
    out: dict = {}
    for row in rows:
        key = (row["model"], row["system"], row["concurrency"])
        if key not in out or row["throughput"] > out[key]["throughput"]:
            out[key] = row
    order = {s: i for i, s in enumerate(SYSTEMS)}
    return sorted(out.values(), key=lambda r: (r["model"], order[r["system"]], r["concurrency"]))


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
def add(rows: list, model: str, system: str, w: Window, round_: int = 0) -> None:
    rows.append({"model": model, "system": system, "round": round_, "concurrency": w.concurrency, "throughput": round(w.throughput, 2),
                 "p50_ms": round(w.p50_ms, 3), "p99_ms": round(w.p99_ms, 3), "requests": w.requests, "errors": w.errors,
                 "first_error": w.first_error, **w.extra})
    log(f"  {model} {system} c={w.concurrency}: {w.throughput:.1f}/s p50 {w.p50_ms:.2f} ms p99 {w.p99_ms:.2f} ms"
        + (f" errors {w.errors} ({w.first_error})" if w.errors else ""))


def best(rows, model, system):
    rs = [r for r in rows if r["model"] == model and r["system"] == system and r["requests"] and not r["errors"]]
    return max(rs, key=lambda r: r["throughput"]) if rs else None


def summary(rows, models) -> list[dict]:
    out = []
    for model in models:
        systems = [s for s in SYSTEMS if any(r["model"] == model and r["system"] == s for r in rows)]
        ours = [b for b in (best(rows, model, s) for s in systems if s.startswith("triton-")) if b]
        our = max(ours, key=lambda r: r["throughput"]) if ours else None
        for s in systems:
            b = best(rows, model, s)
            if b is None:
                continue
            out.append({"model": model, "system": s, "best": b["throughput"], "at": b["concurrency"], "p99": b["p99_ms"],
                        "ratio_to_ours": (b["throughput"] / our["throughput"]) if our else float("nan"),
                        "ours": our["system"] if our else ""})
    return out


def targets(rows, models) -> list[tuple[str, str, bool]]:
    """The issue's targets, each (what, figures, met)."""
    res = []
    for model in models:
        s = {x["system"]: x for x in summary(rows, model and [model])}
        ours = max((v for k, v in s.items() if k.startswith("triton-")), key=lambda v: v["best"], default=None)
        if ours is None:
            continue
        if "torchserve" in s:
            ts = s["torchserve"]
            ok = ours["best"] >= 2 * ts["best"] and ours["p99"] < ts["p99"]
            res.append((f"{model}: Triton >= 2x TorchServe, lower p99",
                        f"{ours['best']:.0f} vs {ts['best']:.0f}/s = {ours['best'] / ts['best']:.2f}x; p99 {ours['p99']:.1f} vs {ts['p99']:.1f} ms", ok))
        if "flask" in s:
            fl = s["flask"]
            res.append((f"{model}: Triton >= 3x Flask", f"{ours['best']:.0f} vs {fl['best']:.0f}/s = {ours['best'] / fl['best']:.2f}x",
                        ours["best"] >= 3 * fl["best"]))
        lim = [v for k, v in s.items() if k.startswith("inproc-")]
        if lim:
            top = max(lim, key=lambda v: v["best"])
            need = 0.85 if model == "resnet18" else 0.4
            res.append((f"{model}: Triton >= {need}x in-process limit",
                        f"{ours['best']:.0f} vs {top['best']:.0f}/s ({top['system']} batch {top['at']}) = {ours['best'] / top['best']:.2f}x",
                        ours["best"] >= need * top["best"]))
    return res


def markdown(rows, models, meta) -> str:
    lines = [f"# Side-by-side serving benchmark", "",
             f"Generated by `make bench-peers` (benchmarks/peers.py) on {meta['date']}.", "",
             f"- machine: {meta['machine']}",
             f"- conditions: {meta['conditions']}",
             f"- load: closed loop, concurrencies {meta['concurrency']}, {meta['duration']} s measured after {meta['warmup']} s warm-up per point; "
             f"all servers up at once (idle ones cost nothing), systems measured in turn at each point, {meta['rounds']} rounds in rotated "
             "order, each point reports its best round (background load only slows a window down); "
             f"Triton client: {meta['triton_client']}; "
             "one float32 sample per request (in-process rows: concurrency = batch size); "
             f"generator: {meta['generator']}",
             f"- in-process: {meta['inproc']}",
             f"- ours: {meta['triton']}",
             f"- peers: {meta['peers']}", ""]
    lines += ["## Best throughput per system (best over concurrency)", "",
              "| model | system | best samples/s | at concurrency | p99 there (ms) | ratio to ours |",
              "| --- | --- | ---: | ---: | ---: | ---: |"]
    for s in summary(rows, models):
        lines.append(f"| {s['model']} | {s['system']} | {s['best']:.1f} | {s['at']} | {s['p99']:.1f} | {s['ratio_to_ours']:.2f} |")
    lines += ["", "Ours = the best Triton row of each model.", "", "## Targets (issue 6)", "",
              "| target | figures | met |", "| --- | --- | --- |"]
    for what, fig, ok in targets(rows, models):
        lines.append(f"| {what} | {fig} | {'yes' if ok else 'NO'} |")
    lines += ["", "## Every point", "", "| model | system | concurrency | samples/s | p50 (ms) | p99 (ms) | errors |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['system']} | {r['concurrency']} | {r['throughput']:.1f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors']} |")
    lines += ["", "![throughput against p99](peers.png)", ""]
    return "\n".join(lines)


def print_table(rows, models) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=160)
    t = Table(title="every point", title_justify="left")
    for c in ("model", "system", "conc", "samples/s", "p50 ms", "p99 ms", "errors"):
        t.add_column(c, justify="left" if c in ("model", "system") else "right")
    for r in rows:
        t.add_row(r["model"], r["system"], str(r["concurrency"]), f"{r['throughput']:.1f}", f"{r['p50_ms']:.2f}", f"{r['p99_ms']:.2f}", str(r["errors"]))
    con.print(t)
    t = Table(title="best throughput per system, as a ratio to ours (best Triton row)", title_justify="left")
    for c in ("model", "system", "best samples/s", "at conc", "p99 ms", "ratio to ours"):
        t.add_column(c, justify="left" if c in ("model", "system") else "right")
    for s in summary(rows, models):
        t.add_row(s["model"], s["system"], f"{s['best']:.1f}", str(s["at"]), f"{s['p99']:.1f}", f"{s['ratio_to_ours']:.2f}")
    con.print(t)
    for what, fig, ok in targets(rows, models):
        con.print(f"{'MET ' if ok else 'MISS'}  {what}: {fig}", markup=False)


def plot(rows, models, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(models), figsize=(7 * len(models), 5.5), squeeze=False)
    for ax, model in zip(axes[0], models):
        for s in SYSTEMS:
            pts = [(r["p99_ms"], r["throughput"], r["concurrency"]) for r in rows
                   if r["model"] == model and r["system"] == s and r["requests"]]
            if not pts:
                continue
            xs, ys, cs = zip(*pts)
            ls = ":" if s.startswith("inproc") else ("-" if s.startswith("triton") else "--")
            ax.plot(xs, ys, marker="o", ls=ls, label=s)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("p99 latency (ms, log)")
        ax.set_ylabel("throughput (samples/s, log)")
        ax.set_title(f"{model}: throughput vs p99, concurrency 1..32")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def machine() -> str:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{CORES} cores ({cpu or platform.processor()}), {mem:.0f} GiB, {platform.system()} {platform.release()}, Python {platform.python_version()}"


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
    p.add_argument("--repository", default=str(ROOT / "model_repository"))
    p.add_argument("--peers-venv", default=str(ROOT / ".venv-peers"), help="venv with torchserve, torch-model-archiver, flask, gunicorn")
    p.add_argument("--work", default=str(ROOT / "benchmarks" / ".work"))
    p.add_argument("--results-md", help="write the Markdown report here (e.g. benchmarks/RESULTS.md)")
    p.add_argument("--conditions", default="other work may have shared the machine during the run",
                   help="a sentence for the report: what else ran")
    p.add_argument("--inproc-torch-threads", type=int, default=1,
                   help="torch intra-op threads in-process (1: OpenMP's spin-waits collapse on shared cores; onnxruntime uses all cores)")
    p.add_argument("--ts-workers", type=int, default=CORES, help="TorchServe workers per model (torch threads = cores / workers)")
    p.add_argument("--ts-batch", default="digits=16,resnet18=8", help="TorchServe batchSize per model")
    p.add_argument("--ts-delay-ms", default="digits=2,resnet18=5", help="TorchServe maxBatchDelay (ms) per model")
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
            Path(args.results_md).write_text(markdown(rows, models, meta))
            shutil.copy(Path(args.report_only).parent / "peers.png", Path(args.results_md).parent / "peers.png")
        return 0
    args.triton_instances = {k: int(v) for k, v in (x.split("=") for x in args.triton_instances.split(",") if x)}
    args.ts_batch = {k: int(v) for k, v in (x.split("=") for x in args.ts_batch.split(","))}
    args.ts_delay_ms = {k: int(v) for k, v in (x.split("=") for x in args.ts_delay_ms.split(","))}
    models = [m for m in args.models.split(",") if m]
    systems = [s for s in args.systems.split(",") if s]
    unknown = [m for m in models if m not in MODELS] + [s for s in systems if s not in SYSTEMS]
    if unknown:
        p.error(f"unknown {unknown}; models: {list(MODELS)}, systems: {SYSTEMS}")
    conc = [int(c) for c in args.concurrency.split(",")]
    repo, work, venv = Path(args.repository).resolve(), Path(args.work).resolve(), Path(args.peers_venv).resolve()
    for m in models:
        for f in ("onnx", "torchscript"):
            try:
                path = artifact(repo, m, f)
            except FileNotFoundError as exc:
                p.error(str(exc))
            if not path.exists():
                p.error(f"{path} is missing: run `make models` first")
    repo = snapshot(repo, models, work / "repo")
    out = work / "peers"
    out.mkdir(parents=True, exist_ok=True)
    all_rows: list[dict] = []
    rows: list[dict] = []
    started = dt.datetime.now(dt.timezone.utc)
    servers = Servers()
    try:
        if any(s.startswith("triton-") for s in systems):
            start_triton(servers, models, repo, work, args.triton_instances)
        if "torchserve" in systems:
            start_torchserve(servers, models, repo, work, venv, args)
        if "flask" in systems:
            start_flask(servers, models, repo, work, venv)
        inproc = InProcess(repo, models, args.inproc_torch_threads) if any(s.startswith("inproc-") for s in systems) else None
        log(f"all servers up; {args.rounds} interleaved round(s)")
        all_rows = run_interleaved(models, [s for s in SYSTEMS if s in systems], conc, args.rounds, args.duration,
                                   args.warmup, servers, inproc, args.triton_client)
        rows = best_of_rounds(all_rows)
    finally:
        servers.stop()
        meta = {"date": started.strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(), "conditions": args.conditions,
                "concurrency": conc, "duration": args.duration, "generator": GENERATOR, "warmup": args.warmup,
                "rounds": args.rounds, "triton_client": args.triton_client,
                "triton": f"repository configs from models.yaml; instance overrides {args.triton_instances}",
                "inproc": f"onnxruntime {CORES} intra-op threads; torch {args.inproc_torch_threads} thread(s)",
                "peers": f"TorchServe 0.12.0 (workers {args.ts_workers}, batchSize {args.ts_batch}, maxBatchDelay ms {args.ts_delay_ms}); "
                         f"Flask under gunicorn, {CORES} sync workers x 1 torch thread"}
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
        md.write_text(markdown(rows, models, meta))
        shutil.copy(out / "peers.png", md.parent / "peers.png")
        log(f"wrote {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
