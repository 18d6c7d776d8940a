"""benchmarks/peers.py, the measurement: one request function per system (the only
system-specific part), all driven by the one closed loop of `tritonctl bench` and tune
(``tritonctl.bench.sweep.measure_level``), interleaved so background load hits every system alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from peers_servers import CORES, PeerModel, Servers, artifact, log
from tritonctl.bench.stability import StabilityRule
from tritonctl.bench.sweep import measure_level  # THE closed loop of `tritonctl bench` and tune
from tritonctl.tune.measure import TritonTarget, LevelResult

GENERATOR = "tritonctl.bench.sweep.measure_level"
SYSTEMS = ["inproc-onnxruntime", "inproc-torchscript", "triton-onnx-grpc", "triton-onnx-http",
           "triton-torchscript-grpc", "triton-torchscript-http", "torchserve", "flask",
           "litserve-onnx", "litserve-torchscript", "bentoml-onnx", "bentoml-torchscript", "rayserve-onnx",
           "rayserve-torchscript"]


async def measure(send, concurrency: int, duration: float, warmup: float, batch: int = 1, label: str = "") -> LevelResult:
    """One concurrency level of ``send`` (a zero-argument coroutine function), by the shared generator.

    Windows of duration/3 s until three agree within 10 % (at most 6); the figures are the last
    three merged. Each request carries ``batch`` samples (throughput is samples/s).
    """
    async def counted():
        await send()
        return batch

    m = await measure_level(counted, concurrency, window_s=max(duration / 3, 0.5), warmup_s=warmup,
                            rule=StabilityRule(percentage=10.0, windows=3, max_windows=6), label=label)
    return LevelResult.from_measurement(concurrency, m, stable=m.stable, windows=m.windows,
                                   client_cpu_pct=round(m.client_cpu_pct, 1))


def sample(model: PeerModel, batch: int = 1) -> np.ndarray:
    """The same bytes for every system: seeded, one float32 sample per request (``batch`` in-process)."""
    rng = np.random.default_rng(1234)
    return rng.random((batch, *model.shape), dtype=np.float32)


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
            self.ort[model.name] = ort.InferenceSession(str(artifact(repo, model, "onnx")), opts, providers=["CPUExecutionProvider"])
            self.ts[model.name] = torch.jit.load(str(artifact(repo, model, "torchscript")), map_location="cpu").eval()

    def send(self, system: str, model: PeerModel, batch: int):
        x = sample(model, batch)
        if system == "inproc-onnxruntime":
            sess, inp, out = self.ort[model.name], model.inputs["onnx"], model.outputs["onnx"]

            async def send():
                sess.run([out], {inp: x})
                await asyncio.sleep(0)  # let the generator's window timer run between calls
        else:
            m, t, torch = self.ts[model.name], self.torch.from_numpy(x), self.torch

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
    """Triton's binary tensor extension, as tritonclient encodes it: JSON header, then the raw input
    bytes; binary output."""
    from tritonclient.http import InferenceServerClient, InferRequestedOutput

    from tritonctl import client as tc

    body, header_len = InferenceServerClient.generate_request_body(
        tc.make_inputs("http", {inp: x}), outputs=[InferRequestedOutput(out, binary_data=True)])
    return body, {"Inference-Header-Content-Length": str(header_len), "Content-Type": "application/octet-stream"}


async def measure_system(system: str, model: PeerModel, c: int, servers: Servers, inproc: InProcess | None,
                         duration: float, warmup: float, triton_client: str) -> LevelResult:
    from contextlib import AsyncExitStack

    async with AsyncExitStack() as stack:
        if system.startswith("inproc-"):
            w = await measure(inproc.send(system, model, c), 1, duration, warmup, batch=c, label=system)
            w.concurrency = c
            return w
        if system.startswith("triton-"):
            _, fmt, proto = system.split("-")
            served, inp, out = model.served[fmt], model.inputs[fmt], model.outputs[fmt]
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
            body, headers = servers.body(system, sample(model).tobytes())
            send = await http_sender(servers.url(system, model.name), body, headers, stack)
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
                    servers.focus(system)
                    try:
                        w = asyncio.run(measure_system(system, model, c, servers, inproc, duration, warmup, triton_client))
                    except Exception as exc:
                        w = LevelResult(concurrency=c, errors=1, first_error=f"{type(exc).__name__}: {exc}")
                    add(rows, model.name, system, w, round_=r)
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


def add(rows: list, model: str, system: str, w: LevelResult, round_: int = 0) -> None:
    rows.append({"model": model, "system": system, "round": round_, "concurrency": w.concurrency, "throughput": round(w.throughput, 2),
                 "p50_ms": round(w.p50_ms, 3), "p99_ms": round(w.p99_ms, 3), "requests": w.requests, "errors": w.errors,
                 "first_error": w.first_error, **w.extra})
    log(f"  {model} {system} c={w.concurrency}: {w.throughput:.1f}/s p50 {w.p50_ms:.2f} ms p99 {w.p99_ms:.2f} ms"
        + (f" errors {w.errors} ({w.first_error})" if w.errors else ""))


