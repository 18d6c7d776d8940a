"""Proof that nothing changed: the archive on a real TorchServe, the import on the local Triton,
the same request bodies to both, the answers compared.

Answers compare as JSON when both parse (same keys, same lengths, equal strings, integers and
booleans -- labels and class ids must match exactly -- and floats within a tolerance, since the
import serves an exported model); otherwise byte for byte.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tritonctl.endpoints import free_ports
from tritonctl.errors import ServeError
from tritonctl.importer.torchserve_env import locate as locate_torchserve
from tritonctl.process import ManagedProcess
from tritonctl.server.health import failed_models
from tritonctl.server.launcher import LocalServer, ServerOptions

ATOL, RTOL = 1e-4, 1e-3  # the parity gate's float32 defaults: exported vs eager
START_TIMEOUT_S = 300


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.read()


class TorchServe:
    """A real TorchServe (from the peers venv) serving the archives, one worker each."""

    def __init__(self, venv: Path | None, archives: list[Path], workdir: Path, properties: dict[str, str] | None = None,
                 exe: Path | None = None) -> None:
        # venv None: found by importer.torchserve_env (any current directory), or exe as given
        self.venv, self.exe = (Path(venv) if venv else None), exe
        self.archives, self.workdir = [Path(a) for a in archives], Path(workdir)
        self.properties = properties or {}  # extra config.properties keys (a benchmark's tuning)
        self.process: ManagedProcess | None = None
        names = ("inference", "management", "metrics", "grpc_inference", "grpc_management")
        self.ports = dict(zip(names, free_ports(len(names))))

    def __enter__(self) -> "TorchServe":
        exe = self.exe or locate_torchserve(venv=self.venv)
        store = self.workdir / "model_store"
        store.mkdir(parents=True, exist_ok=True)
        names = []
        for a in self.archives:
            dest = store / a.name
            (shutil.copytree if a.is_dir() else shutil.copyfile)(a, dest)
            names.append(a.name)
        props = self.workdir / "config.properties"
        props.write_text("\n".join([
            f"inference_address=http://127.0.0.1:{self.ports['inference']}",
            f"management_address=http://127.0.0.1:{self.ports['management']}",
            f"metrics_address=http://127.0.0.1:{self.ports['metrics']}",
            # its gRPC ports default to 7070/7071: a second TorchServe would fail to bind them
            f"grpc_inference_port={self.ports['grpc_inference']}", f"grpc_management_port={self.ports['grpc_management']}",
            f"model_store={store}", "load_models=" + ",".join(names), "disable_token_authorization=true",
            "disable_system_metrics=true", "install_py_dep_per_model=false", "default_workers_per_model=1",
            *(f"{k}={v}" for k, v in self.properties.items()), "",
        ]))
        self.log = self.workdir / "torchserve.out"
        env = dict(os.environ, PATH=f"{exe.parent}:{os.environ['PATH']}", LOG_LOCATION=str(self.workdir / "logs"),
                   METRICS_LOCATION=str(self.workdir / "logs"))
        env.pop("PYTHONPATH", None)
        # TorchServe refuses to start while a pid file sits in the temp dir: one temp dir each, so
        # this one runs beside any other TorchServe (a benchmark's, another verify's).
        (self.workdir / "tmp").mkdir(exist_ok=True)
        env["TMPDIR"] = env["TEMP"] = str(self.workdir / "tmp")
        self.process = ManagedProcess(
            [str(exe), "--start", "--foreground", "--ncs", "--model-store", str(store), "--ts-config", str(props),
             "--disable-token-auth"], self.log, name="torchserve", env=env, cwd=self.workdir, term_group=True, tail_lines=40)
        self.process.start()
        try:
            self.process.wait_http(f"{self.url}/ping", START_TIMEOUT_S)
            for name in self.model_names():  # /ping answers before the workers are up
                self.process.wait_ready(lambda n=name: any(w.get("status") == "READY" for w in self._describe(n)["workers"]),
                                        START_TIMEOUT_S, state=f"ready (a READY worker for {name})")
        except BaseException:
            self.process.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.process is not None:
            self.process.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['inference']}"

    def model_names(self) -> list[str]:
        _, body = _get(f"http://127.0.0.1:{self.ports['management']}/models")
        return [m["modelName"] for m in json.loads(body)["models"]]

    def _describe(self, name: str) -> dict:
        _, body = _get(f"http://127.0.0.1:{self.ports['management']}/models/{name}")
        return json.loads(body)[0]

    def predict(self, model: str, body: bytes, content_type: str = "application/octet-stream") -> tuple[int, bytes]:
        req = urllib.request.Request(f"{self.url}/predictions/{model}", data=body, method="POST",
                                     headers={"Content-Type": content_type})
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


class Triton:
    """The import served by a real local Triton on free ports (``LocalServer``, what `tritonctl
    serve` runs): every model must load."""

    def __init__(self, repository: Path, workdir: Path) -> None:
        self.repository, self.workdir = Path(repository), Path(workdir)
        self.ports = free_ports(3)
        http, grpc, metrics = self.ports
        self.server = LocalServer(ServerOptions(repository=self.repository, http_port=http, grpc_port=grpc,
                                                metrics_port=metrics, address="127.0.0.1",
                                                state_dir=self.workdir / "state"))

    def __enter__(self) -> "Triton":
        self.server.start()
        try:
            failed = failed_models(self.server.wait_ready(START_TIMEOUT_S))
            if failed:
                raise ServeError("; ".join(f"model '{m.name}' version {m.version} failed to load: {m.short_reason}"
                                           for m in failed))
        except BaseException:
            self.server.stop(timeout=15)
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop(timeout=60)

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.ports[0]}"

    def predict(self, model: str, body: bytes) -> bytes:
        """One request body through the imported model (BODY in, RESPONSE out), over HTTP."""
        import numpy as np
        import tritonclient.http as httpclient

        with httpclient.InferenceServerClient(self.http_url, network_timeout=120) as client:
            inp = httpclient.InferInput("BODY", [1, 1], "BYTES")
            inp.set_data_from_numpy(np.array([[body]], dtype=object))
            result = client.infer(model, [inp], outputs=[httpclient.InferRequestedOutput("RESPONSE", binary_data=True)])
        return bytes(result.as_numpy("RESPONSE").reshape(-1)[0])


def difference(want: bytes, got: bytes, atol: float = ATOL, rtol: float = RTOL) -> str | None:
    """None when the answers agree (JSON-aware, floats within tolerance), else where they differ."""
    try:
        a, b = json.loads(want), json.loads(got)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None if want == got else f"bodies differ: {want[:80]!r} vs {got[:80]!r}"
    return _diff(a, b, "$", atol, rtol)


def _diff(a, b, where: str, atol: float, rtol: float) -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return f"{where}: keys {sorted(a)} vs {sorted(b)}"
        return next((d for k in a if (d := _diff(a[k], b[k], f"{where}.{k}", atol, rtol))), None)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where}: {len(a)} vs {len(b)} items"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := _diff(x, y, f"{where}[{i}]", atol, rtol))), None)
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
            return None if math.isclose(a, b, rel_tol=rtol, abs_tol=atol) else f"{where}: {a} vs {b} (atol {atol}, rtol {rtol})"
    return None if (type(a) is type(b) and a == b) else f"{where}: {a!r} vs {b!r}"


@dataclass
class Check:
    model: str
    sample: int
    problem: str | None  # None: the answers agree


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.problem is None for c in self.checks)

    def lines(self) -> list[str]:
        out = []
        for c in self.checks:
            out.append(f"verify {c.model} sample {c.sample}: " + ("same answer on TorchServe and Triton" if c.problem is None
                                                                    else f"DIFFERENT: {c.problem}"))
        agree = sum(c.problem is None for c in self.checks)
        out.append(f"verify: {agree}/{len(self.checks)} answers agree" + ("" if self.ok else " -- the import differs"))
        return out


def compare(results, torchserve: TorchServe, triton: Triton) -> VerifyReport:
    """Every sample of every imported archive to both servers."""
    report = VerifyReport()
    for r in results:
        ts_name = _archive_model_name(r.archive)
        for i, body in enumerate(r.samples):
            status, want = torchserve.predict(ts_name, body, r.content_type)
            if status != 200:
                report.checks.append(Check(r.name, i, f"TorchServe answered {status}: {want[:200]!r}"))
                continue
            try:
                got = triton.predict(r.name, body)
            except Exception as exc:  # tritonclient raises its own exception types
                report.checks.append(Check(r.name, i, f"Triton failed: {exc}"))
                continue
            report.checks.append(Check(r.name, i, difference(want, got)))
    return report


def _archive_model_name(path: Path) -> str:
    from tritonctl.importer.archive import MANIFEST

    if Path(path).is_dir():
        return json.loads((Path(path) / MANIFEST).read_text())["model"]["modelName"]
    import zipfile

    with zipfile.ZipFile(path) as zf:
        return json.loads(zf.read(MANIFEST))["model"]["modelName"]


def verify(results, spec_path: Path, venv: Path | None, repository: str | None = None, progress=None,
           torchserve: Path | None = None) -> VerifyReport:
    """Build the spec, start both servers, compare every sample; the servers stop whatever happens."""
    from tritonctl import build, spec as spec_mod

    # before the build: a missing TorchServe fails in a second, not after building the repository
    exe = locate_torchserve(torchserve, venv=venv)
    progress = progress or (lambda msg: None)
    spec = spec_mod.load(spec_path)
    repo = Path(repository) if repository else spec.resolve(spec.repository)
    progress(f"building {repo}")
    build.build(spec, repo, progress=progress)
    with tempfile.TemporaryDirectory(prefix="tritonctl-verify-") as tmp:
        progress("starting TorchServe and Triton")
        with TorchServe(venv, [r.archive for r in results], Path(tmp) / "torchserve", exe=exe) as ts, \
                Triton(repo, Path(tmp) / "triton") as triton:
            progress("sending the samples to both")
            return compare(results, ts, triton)
