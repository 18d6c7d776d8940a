"""benchmarks/peers.py, the servers: the model facts from models.yaml, a frozen copy of the
repository, and every server of the run (our Triton, TorchServe, Flask under gunicorn), all
started before any measurement (an idle server costs no CPU) and stopped together."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tritonctl.endpoints import free_port
from tritonctl.server.process import stop_group, wait_http

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
    versions = sorted((int(d.name), d) for d in model_dir.iterdir() if d.is_dir() and d.name.isdigit())
    if not versions:
        raise FileNotFoundError(f"{model_dir} has no version directory: run `make models` first")
    return versions[-1][1]


def snapshot(repo: Path, models: list[PeerModel], dest: Path) -> Path:
    """Copy the served models (config, labels, latest version) so a rebuild during the run cannot move them."""
    if dest.exists():
        shutil.rmtree(dest)
    for m in models:
        for fmt in FORMATS:
            src = repo / m.served[fmt]
            out = dest / src.name
            out.mkdir(parents=True)
            for f in src.iterdir():
                if f.is_file():
                    shutil.copy2(f, out / f.name)
            shutil.copytree(latest(src), out / latest(src).name)
    return dest


def artifact(repo: Path, model: PeerModel, fmt: str) -> Path:
    d = repo / model.served[fmt]
    return latest(d) / ("model.onnx" if fmt == "onnx" else "model.pt")


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
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['management']}/models/{model.name}", timeout=5) as r:
                    info = json.loads(r.read())[0]
                if sum(1 for w in info.get("workers", []) if w.get("status") == "READY") >= args.ts_workers:
                    break
            except OSError:
                pass
            time.sleep(1)
        else:
            raise RuntimeError(f"torchserve workers for {model.name} not ready; see {ts_dir}/logs")
    servers.urls["torchserve"] = f"http://127.0.0.1:{ports['inference']}/predictions/{{model}}"


def start_flask(servers: Servers, models, repo, work, venv) -> None:
    port = free_port()
    env = dict(os.environ, TORCH_THREADS="1",
               PEERS_MODELS=",".join(f"{m.name}={artifact(repo, m, 'torchscript')}" for m in models))
    env.pop("PYTHONPATH", None)
    (work / "flask").mkdir(parents=True, exist_ok=True)
    log_file = open(work / "flask" / "gunicorn.log", "wb")
    proc = subprocess.Popen([str(venv / "bin" / "gunicorn"), "-w", str(CORES), "-b", f"127.0.0.1:{port}",
                             "--backlog", "2048", "--timeout", "120", "--chdir", str(ROOT / "benchmarks"), "flask_app:app"],
                            env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    servers._stops.append(lambda: (stop_group(proc), log_file.close()))
    wait_http(f"http://127.0.0.1:{port}/ping", 120, proc, "gunicorn")
    servers.urls["flask"] = f"http://127.0.0.1:{port}/predict/{{model}}"


