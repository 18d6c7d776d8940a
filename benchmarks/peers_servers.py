"""benchmarks/peers.py, the servers: the model facts from models.yaml, a frozen copy of the
repository, and every server of the run (our Triton, TorchServe, Flask under gunicorn), all
started before any measurement (an idle server costs no CPU) and stopped together."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tritonctl.endpoints import free_port
from tritonctl.process import ManagedProcess

ROOT = Path(__file__).resolve().parents[1]
CORES = len(os.sched_getaffinity(0))
FORMATS = ("onnx", "torchscript")


def log(msg: str) -> None:
    print(f"[peers {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


@dataclass
class PeerModel:
    """What every system needs to know of one model, read from models.yaml (one float32 input, one output)."""

    name: str
    shape: tuple[int, ...]  # one sample, no batch dim
    served: dict  # format -> the model's name in the Triton repository
    inputs: dict  # format -> input tensor name as Triton serves it (TorchScript: image__0)
    outputs: dict  # format -> output tensor name as Triton serves it


def models_from_spec(spec_path: Path, names: list[str]) -> dict[str, PeerModel]:
    """The models of ``names`` as models.yaml declares them; refuses what one raw float32 sample cannot feed."""
    from tritonctl import config, spec as spec_mod

    spec = spec_mod.load(spec_path)
    known = [m.name for m in spec.models]
    out = {}
    for name in names:
        if name not in known:
            raise ValueError(f"model '{name}' is not in {spec_path}; known: {known}")
        m = spec.model(name)
        t = m.inputs[0] if len(m.inputs) == 1 and len(m.outputs) == 1 else None
        missing = [f for f in FORMATS if f not in m.formats]
        if t is None or t.dtype != "float32" or -1 in t.shape or missing:
            raise ValueError(f"model '{name}': the peers benchmark sends one float32 sample of a fixed shape to an "
                             f"onnx and a torchscript export; {spec_path} declares inputs {[i.name for i in m.inputs]}, "
                             f"formats {m.formats}: pick a model with one fixed-shape float32 input and both formats")
        names_by_format = {f: config.config_tensor_names(m, f) for f in FORMATS}
        out[name] = PeerModel(name, tuple(t.shape), {f: m.served_name(f) for f in FORMATS},
                              {f: ins[0] for f, (ins, _) in names_by_format.items()},
                              {f: outs[0] for f, (_, outs) in names_by_format.items()})
    return out


def latest(model_dir: Path) -> Path:
    """The highest numeric version directory of a published model."""
    from tritonctl import repository

    versions = repository.versions(model_dir)
    if not versions:
        raise FileNotFoundError(f"{model_dir} has no version directory: run `make models` first")
    return model_dir / str(versions[-1])


def copy_served(src: Path, out: Path) -> Path:
    """Copy one served model's files (config, labels) and its latest version directory to ``out``."""
    out.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file():
            shutil.copy2(f, out / f.name)
    version = latest(src)
    shutil.copytree(version, out / version.name)
    return out


def snapshot(repo: Path, models: list[PeerModel], dest: Path) -> Path:
    """Copy the served models (config, labels, latest version) so a rebuild during the run cannot move them."""
    if dest.exists():
        shutil.rmtree(dest)
    for m in models:
        for fmt in FORMATS:
            copy_served(repo / m.served[fmt], dest / m.served[fmt])
    return dest


def artifact(repo: Path, model: PeerModel, fmt: str) -> Path:
    from tritonctl import config

    return latest(repo / model.served[fmt]) / config.artifact_filename(fmt)


def signal_groups(pgids: list[int], sig: int) -> None:
    """Send ``sig`` to each process group that still exists."""
    for pgid in pgids:
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            pass


class Servers:
    """Every server of the run, started once; ``urls`` per system family; ``stop()`` stops them all."""

    def __init__(self):
        self.urls: dict[str, str] = {}
        self.model_urls: dict[tuple[str, str], str] = {}  # (system, model) -> URL, for servers with one URL per model
        self.encoders: dict = {}  # system -> body encoder of a framework that cannot take a raw body
        self.pausable: dict[str, list[int]] = {}  # framework -> process groups to hold while others are measured
        self._stops: list = []

    def focus(self, system: str | None) -> None:
        """Hold (SIGSTOP) every pausable server but ``system``'s, run (SIGCONT) that one.

        An idle LitServe is not idle: its API server and inference workers poll their queues, ~0.8 of
        a core for 2 workers x 4 models on this machine (top, 2026-12-01), taken from whichever
        system is being measured. Held servers keep their sockets; a continued one answers at once.
        """
        for framework, groups in self.pausable.items():
            focused = system is not None and system.startswith(f"{framework}-")
            signal_groups(groups, signal.SIGCONT if focused else signal.SIGSTOP)

    def body(self, system: str, raw: bytes) -> tuple[bytes, dict]:
        """What ``system`` is sent for one raw float32 sample: the bytes themselves unless its framework says otherwise."""
        encode = self.encoders.get(system)
        return encode(raw) if encode else (raw, {"Content-Type": "application/octet-stream"})

    def url(self, system: str, model: str) -> str:
        return self.model_urls.get((system, model)) or self.urls[system].format(model=model)

    def spawn(self, cmd: list[str], log_path: Path, env: dict, cwd: Path | None = None,
              name: str = "") -> ManagedProcess:
        """Start a server in its own process group (SIGTERM to the whole group on stop: TorchServe's
        Java frontend and workers, gunicorn's workers), its output to ``log_path``, and register its
        stop. The project's PYTHONPATH is not passed on: each server runs from its own venv."""
        env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        process = ManagedProcess(cmd, log_path, name=name or Path(cmd[0]).name, env=env, cwd=cwd, term_group=True)
        self._stops.append(process.stop)
        return process.start()

    def stop(self) -> None:
        for groups in self.pausable.values():  # a held process would sit out SIGTERM until the kill
            signal_groups(groups, signal.SIGCONT)
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception as exc:  # stop the others anyway
                log(f"stopping: {exc}")


def start_triton(servers: Servers, models, repo: Path, work: Path, instances: dict) -> None:
    from tritonctl.server.launcher import LocalServer, ServerOptions

    names = [m.served[f] for m in models for f in FORMATS]
    opts = ServerOptions(repository=repo, http_port=free_port(), grpc_port=free_port(), metrics_port=free_port(),
                         address="127.0.0.1", model_control_mode="explicit", load_models=names,
                         state_dir=work / "triton", exit_timeout_secs=5)
    server = LocalServer(opts).start()
    servers._stops.append(lambda: server.stop(timeout=30))
    index = server.wait_ready(300)
    bad = [m for m in index if m.name in names and not m.ready]
    if bad:
        raise RuntimeError(f"Triton did not load {bad}; log: {opts.log_path}")
    if instances:  # the tuned instance counts, through the repository API (disk untouched)
        from tritonctl import client as tc

        with tc.closing(tc.make_client(f"http://{opts.http_url}", network_timeout=300)) as client:
            for name in names:
                fmt = "torchscript" if name.endswith("_torchscript") else "onnx"
                if instances.get(fmt):
                    cfg = tc.get_config_message(client, name)
                    for g in cfg.instance_group:
                        g.count = instances[fmt]
                    tc.load_model(client, name, cfg)
                    log(f"{name}: {instances[fmt]} instance(s)")
    servers.urls["triton-grpc"], servers.urls["triton-http"] = opts.grpc_url, opts.http_url


def start_torchserve(servers: Servers, models, repo, work, venv, args) -> None:
    ts_dir = work / "torchserve"
    if ts_dir.exists():
        shutil.rmtree(ts_dir)
    store = ts_dir / "model_store"
    store.mkdir(parents=True)
    for model in models:
        workers = args.ts_workers
        threads = max(1, CORES // workers)
        cfg = ts_dir / f"{model.name}-config.yaml"
        cfg.write_text(
            f"minWorkers: {workers}\nmaxWorkers: {workers}\nbatchSize: {args.ts_batch[model.name]}\n"
            f"maxBatchDelay: {args.ts_delay_ms[model.name]}\nresponseTimeout: 120\n"
            f"handler:\n  shape: {list(model.shape)}\n  threads: {threads}\n"
        )
        subprocess.run([str(venv / "bin" / "torch-model-archiver"), "--model-name", model.name, "--version", "1.0",
                        "--serialized-file", str(artifact(repo, model, "torchscript")),
                        "--handler", str(ROOT / "benchmarks" / "torchserve_handler.py"),
                        "--config-file", str(cfg), "--export-path", str(store), "--force"], check=True)
    ports = {k: free_port() for k in ("inference", "management", "metrics")}
    props = ts_dir / "config.properties"
    props.write_text("\n".join([
        f"inference_address=http://127.0.0.1:{ports['inference']}",
        f"management_address=http://127.0.0.1:{ports['management']}",
        f"metrics_address=http://127.0.0.1:{ports['metrics']}",
        f"model_store={store}",
        "load_models=" + ",".join(f"{m.name}.mar" for m in models),
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
    ts = servers.spawn([str(venv / "bin" / "torchserve"), "--start", "--foreground", "--ncs", "--model-store",
                        str(store), "--ts-config", str(props), "--disable-token-auth"],
                       ts_dir / "torchserve.out", env, cwd=ts_dir)
    ts.wait_http(f"http://127.0.0.1:{ports['inference']}/ping", 180)

    def workers_ready(model) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['management']}/models/{model.name}", timeout=5) as r:
            info = json.loads(r.read())[0]
        return sum(1 for w in info.get("workers", []) if w.get("status") == "READY") >= args.ts_workers

    for model in models:  # ping answers before the workers are up: wait for each model's workers
        ts.wait_ready(lambda m=model: workers_ready(m), 180, interval=1,
                      state=f"ready ({args.ts_workers} READY workers for {model.name}; see {ts_dir}/logs)")
    servers.urls["torchserve"] = f"http://127.0.0.1:{ports['inference']}/predictions/{{model}}"


def start_flask(servers: Servers, models, repo, work, venv) -> None:
    port = free_port()
    env = dict(os.environ, TORCH_THREADS="1",
               PEERS_MODELS=",".join(f"{m.name}={artifact(repo, m, 'torchscript')}" for m in models))
    (work / "flask").mkdir(parents=True, exist_ok=True)
    gunicorn = servers.spawn([str(venv / "bin" / "gunicorn"), "-w", str(CORES), "-b", f"127.0.0.1:{port}", "--backlog",
                              "2048", "--timeout", "120", "--chdir", str(ROOT / "benchmarks"), "flask_app:app"],
                             work / "flask" / "gunicorn.log", env)
    gunicorn.wait_http(f"http://127.0.0.1:{port}/ping", 120)
    servers.urls["flask"] = f"http://127.0.0.1:{port}/predict/{{model}}"




class PythonPeer:
    """A Python serving framework people pick today instead of Triton, run from its own venv.

    One app script per framework (benchmarks/<framework>_app.py) serves both exports of every model
    (``<framework>-onnx`` on onnxruntime, ``<framework>-torchscript`` on torch.jit, through
    benchmarks/peer_runtime.py) at ``/predict/<model>_<format>``, with the framework's own batching
    set to the same batch size and wait as TorchServe's. ``start`` launches it, waits until every
    route answers a real sample, and registers the URLs; ``Servers.stop`` ends it.
    """

    framework = ""
    script = ""
    one_server_per_model = False  # the framework's server serves one model: one process each
    pausable = False  # its idle processes burn CPU: held (SIGSTOP) while other systems are measured

    def __init__(self, venv: Path, workers: int, batch: dict, delay_ms: dict):
        self.venv, self.workers, self.batch, self.delay_ms = Path(venv), workers, batch, delay_ms

    @property
    def systems(self) -> list[str]:
        return [f"{self.framework}-{f}" for f in FORMATS]

    def entries(self, models, repo: Path) -> list[dict]:
        """What the app serves (PEER_MODELS): one entry per model and format."""
        return [{"name": m.name, "format": f, "path": str(artifact(repo, m, f)), "shape": list(m.shape),
                 "input": m.inputs["onnx"] if f == "onnx" else "", "output": m.outputs["onnx"] if f == "onnx" else "",
                 "max_batch": self.batch[m.name], "delay_ms": self.delay_ms[m.name]} for m in models for f in FORMATS]

    def command(self, port: int, workdir: Path) -> list[str]:
        return [str(self.venv / "bin" / "python"), str(ROOT / "benchmarks" / self.script), "--port", str(port)]

    encode = None  # raw body -> (body, headers) when the framework cannot take raw bytes

    def start(self, servers: "Servers", models, repo: Path, work: Path) -> None:
        if not (self.venv / "bin" / "python").exists():
            raise RuntimeError(f"{self.venv} is missing: `make peers-install` creates it ({self.framework})")
        workdir = work / self.framework
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        entries = self.entries(models, repo)
        groups = [[e] for e in entries] if self.one_server_per_model else [entries]
        for i, group in enumerate(groups):
            port = free_port()
            env = dict(os.environ, PEER_MODELS=json.dumps(group), PEER_WORKERS=str(self.workers),
                       PEER_THREADS=str(max(1, CORES // self.workers)), RAY_USAGE_STATS_ENABLED="0",
                       BENTOML_DO_NOT_TRACK="True", LITSERVE_DISABLE_TELEMETRY="1", OMP_NUM_THREADS="1")
            proc = servers.spawn(self.command(port, workdir), workdir / f"server-{i}.log", env, cwd=workdir,
                                 name=self.framework)
            for e in group:
                url = f"http://127.0.0.1:{port}/predict/{e['name']}_{e['format']}"
                system = f"{self.framework}-{e['format']}"
                if self.encode is not None:
                    servers.encoders[system] = self.encode
                body, headers = servers.body(system, bytes(int(np.prod(e["shape"])) * 4))
                proc.wait_ready(lambda: answers(url, body, headers), 300, state=f"answering a sample at {url}")
                servers.model_urls[(system, e["name"])] = url
            if self.pausable:
                servers.pausable.setdefault(self.framework, []).append(proc.pid)  # its own session: pgid = pid
                servers.focus(None)
        log(f"{self.framework}: {len(entries)} models up ({self.workers} workers x {max(1, CORES // self.workers)} thread(s))")


def answers(url: str, body: bytes, headers: dict) -> bool:
    """``url`` answers ``body`` (a zero sample) with 200 (a route that is up but not loaded answers
    404/503, which ``urlopen`` raises as an OSError: not yet)."""
    req = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status == 200


class LitServePeer(PythonPeer):
    """LitServe: a LitAPI per model with ``max_batch_size``/``batch_timeout``, CPU workers per LitServer."""

    framework, script, pausable = "litserve", "litserve_app.py", True

    @staticmethod
    def encode(raw: bytes) -> tuple[bytes, dict]:
        """LitServe parses JSON or forms only: the sample as base64 in JSON, as its image examples do."""
        return json.dumps({"sample": base64.b64encode(raw).decode()}).encode(), {"Content-Type": "application/json"}


class BentoMLPeer(PythonPeer):
    """BentoML: a service per model whose ``@bentoml.api(batchable=True, max_batch_size, max_latency_ms)`` runs the batch."""

    framework, script, one_server_per_model, pausable = "bentoml", "bentoml_app.py", True, True

    def command(self, port: int, workdir: Path) -> list[str]:
        return [str(self.venv / "bin" / "bentoml"), "serve", "bentoml_app:PeerService", "--working-dir",
                str(ROOT / "benchmarks"), "--host", "127.0.0.1", "--port", str(port)]

    @staticmethod
    def encode(raw: bytes) -> tuple[bytes, dict]:
        """BentoML's main server takes JSON or multipart: a batch of one base64 sample along batch_dim 0."""
        return json.dumps({"samples": [base64.b64encode(raw).decode()]}).encode(), {"Content-Type": "application/json"}


class RayServePeer(PythonPeer):
    """Ray Serve: a deployment per model, ``@serve.batch`` in each of its replicas, one local Ray.

    Not held between its turns: a stopped raylet misses the GCS health checks and is declared dead.
    Its idle control plane (GCS, raylet, controller, proxy) costs ~0.15-0.2 of a core meanwhile.
    """

    framework, script = "rayserve", "rayserve_app.py"


PYTHON_PEERS = {p.framework: p for p in (LitServePeer, BentoMLPeer, RayServePeer)}
