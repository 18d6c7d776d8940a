"""Start, watch and stop the real ``tritonserver`` shipped in the nvidia-pytriton wheel.

Layout it relies on (nvidia-pytriton 0.7.0, Triton 2.51)::

    site-packages/pytriton/tritonserver/bin/tritonserver          RPATH ../../../nvidia_pytriton.libs
    site-packages/pytriton/tritonserver/backends/python/           libtriton_python.so, *_utils.py
    site-packages/pytriton/tritonserver/python_backend_stubs/3.X/  triton_python_backend_stub
    site-packages/nvidia_pytriton.libs/                            the bundled shared libraries

``prepare_backend_dir`` assembles, under the state directory (default ``.tritonctl/``)::

    backends/python/      links to libtriton_python.so, triton_python_backend_utils.py and the
                          stub for this interpreter's version
    backends/onnxruntime/model.py   the CPU onnxruntime backend (Python-based backend)
    backends/pytorch/model.py       the CPU TorchScript backend

The links sit elsewhere than the RPATH (``$ORIGIN/../../../../nvidia_pytriton.libs``) expects,
so the server (and through it every stub) gets ``LD_LIBRARY_PATH`` with ``nvidia_pytriton.libs``
and this interpreter's ``LIBDIR`` (the stub links ``libpython3.X.so.1.0``). The stubs' Python
path is set explicitly: this environment's site-packages plus the directory holding the
``tritonctl`` package, so the backends import onnxruntime, torch and tritonctl from here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import site
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tritonctl.errors import ServeError

DEFAULT_STATE_DIR = ".tritonctl"
CONTROL_MODES = ("none", "poll", "explicit")
BACKENDS = ("onnxruntime", "pytorch")


# --------------------------------------------------------------------------------------------
# the distribution
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TritonDist:
    root: Path  # site-packages/pytriton/tritonserver
    binary: Path
    python_backend: Path  # dir with libtriton_python.so + triton_python_backend_utils.py
    stub: Path
    libs: Path  # nvidia_pytriton.libs


def python_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def find_distribution() -> TritonDist:
    """Locate tritonserver and the Python backend in the installed nvidia-pytriton wheel."""
    try:
        import importlib.util

        spec = importlib.util.find_spec("pytriton")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ServeError(
            "nvidia-pytriton is not installed in this environment; it ships the tritonserver binary. "
            "Run `make install` (or `pip install nvidia-pytriton==0.7.0`)"
        )
    pkg = Path(list(spec.submodule_search_locations)[0])
    root = pkg / "tritonserver"
    binary = root / "bin" / "tritonserver"
    python_backend = root / "backends" / "python"
    stub = root / "python_backend_stubs" / python_version() / "triton_python_backend_stub"
    libs = pkg.parent / "nvidia_pytriton.libs"
    for path, what in ((binary, "the tritonserver binary"), (python_backend / "libtriton_python.so", "the Python backend")):
        if not path.exists():
            raise ServeError(f"{what} is missing at {path}; reinstall nvidia-pytriton==0.7.0")
    if not stub.exists():
        have = sorted(p.name for p in (root / "python_backend_stubs").iterdir()) if (root / "python_backend_stubs").exists() else []
        raise ServeError(
            f"no Python backend stub for Python {python_version()} in nvidia-pytriton (it has {have}); "
            "create the virtual environment with one of those Python versions"
        )
    return TritonDist(root=root, binary=binary, python_backend=python_backend, stub=stub, libs=libs)


def python_libdir() -> Path:
    """LIBDIR holding libpython3.X.so.1.0, or ServeError when this Python is not a shared build."""
    shared = sysconfig.get_config_var("Py_ENABLE_SHARED")
    libdir = Path(sysconfig.get_config_var("LIBDIR") or "")
    soname = sysconfig.get_config_var("INSTSONAME") or f"libpython{python_version()}.so.1.0"
    if not shared or not (libdir / soname).exists():
        raise ServeError(
            f"this Python ({sys.executable}) is not built as a shared library (Py_ENABLE_SHARED="
            f"{shared}, no {libdir / soname}); Triton's Python backend stub links {soname}. Create the "
            "virtual environment from a Python built with --enable-shared (the distribution's "
            "python3, or pyenv with PYTHON_CONFIGURE_OPTS=--enable-shared)"
        )
    return libdir


def _backend_sources() -> Path:
    return Path(__file__).resolve().parent.parent / "backends"


def _install(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` unless an identical copy is there.

    Copies, not links: Triton resolves links and refuses a backend library that "escapes the
    backend directory"; the copies find their libraries through LD_LIBRARY_PATH (server_env).
    """
    if dst.is_symlink():
        dst.unlink()
    if dst.exists():
        a, b = src.stat(), dst.stat()
        if a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime):
            return
    tmp = dst.with_name(dst.name + f".tmp{os.getpid()}")
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)  # atomic: a server starting beside us never sees half a file


def prepare_backend_dir(state_dir: Path, dist: TritonDist | None = None) -> Path:
    """Assemble ``<state_dir>/backends`` (idempotent) and return its path."""
    dist = dist or find_distribution()
    python_libdir()
    backends = Path(state_dir).resolve() / "backends"
    py = backends / "python"
    py.mkdir(parents=True, exist_ok=True)
    _install(dist.python_backend / "libtriton_python.so", py / "libtriton_python.so")
    _install(dist.python_backend / "triton_python_backend_utils.py", py / "triton_python_backend_utils.py")
    _install(dist.stub, py / "triton_python_backend_stub")
    for name in BACKENDS:
        src = _backend_sources() / name / "model.py"
        if not src.exists():
            raise ServeError(f"the local {name} backend is missing at {src}; reinstall tritonctl")
        (backends / name).mkdir(exist_ok=True)
        _install(src, backends / name / "model.py")
    return backends


def stub_python_path() -> str:
    """PYTHONPATH for the stubs: the tritonctl package's parent, then this environment's site-packages."""
    entries = [str(Path(__file__).resolve().parents[2])]
    for p in [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]:
        if p not in entries and Path(p).exists():
            entries.append(p)
    return os.pathsep.join(entries)


def server_env(dist: TritonDist, base: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    libpaths = [str(dist.libs), str(python_libdir())]
    if env.get("LD_LIBRARY_PATH"):
        libpaths.append(env["LD_LIBRARY_PATH"])
    env["LD_LIBRARY_PATH"] = os.pathsep.join(libpaths)
    pypath = [stub_python_path()] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    env["PYTHONPATH"] = os.pathsep.join(pypath)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PYTHONNOUSERSITE", "1")
    return env


# --------------------------------------------------------------------------------------------
# options and command line
# --------------------------------------------------------------------------------------------
@dataclass
class ServerOptions:
    repository: Path
    http_port: int = 8000
    grpc_port: int = 8001
    metrics_port: int = 8002
    address: str = "0.0.0.0"
    model_control_mode: str = "none"
    load_models: list[str] = field(default_factory=list)
    poll_secs: int = 2
    log_verbose: int = 0
    exit_timeout_secs: int = 30
    state_dir: Path = Path(DEFAULT_STATE_DIR)
    log_file: Path | None = None
    extra_args: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.repository = Path(self.repository)
        self.state_dir = Path(self.state_dir)
        if self.model_control_mode not in CONTROL_MODES:
            raise ServeError(
                f"--model-control-mode '{self.model_control_mode}' is not one of {', '.join(CONTROL_MODES)}"
            )
        if self.load_models and self.model_control_mode != "explicit":
            raise ServeError(
                f"--model {' '.join(self.load_models)} needs --model-control-mode explicit "
                f"(in '{self.model_control_mode}' mode Triton loads every model of the repository)"
            )
        ports = {"--http-port": self.http_port, "--grpc-port": self.grpc_port, "--metrics-port": self.metrics_port}
        for flag, port in ports.items():
            if not (0 < int(port) < 65536):
                raise ServeError(f"{flag} {port} is not a TCP port (1..65535)")
        if len(set(ports.values())) != 3:
            raise ServeError(f"the HTTP, gRPC and metrics ports must differ, got {ports}")

    @property
    def log_path(self) -> Path:
        return Path(self.log_file) if self.log_file else self.state_dir / "server.log"

    @property
    def host(self) -> str:
        return "localhost" if self.address in ("0.0.0.0", "::", "") else self.address

    @property
    def http_url(self) -> str:
        return f"{self.host}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"


def server_command(opts: ServerOptions, dist: TritonDist, backend_dir: Path) -> list[str]:
    cmd = [
        str(dist.binary),
        f"--model-repository={opts.repository.resolve()}",
        f"--backend-directory={backend_dir}",
        f"--http-port={opts.http_port}",
        f"--grpc-port={opts.grpc_port}",
        f"--metrics-port={opts.metrics_port}",
        f"--http-address={opts.address}",
        f"--grpc-address={opts.address}",
        f"--metrics-address={opts.address}",
        f"--model-control-mode={opts.model_control_mode}",
        f"--log-verbose={opts.log_verbose}",
        f"--exit-timeout-secs={opts.exit_timeout_secs}",
        "--exit-on-error=false",  # tritonctl decides: report every failed model, then exit or keep serving
        "--strict-readiness=true",
        "--allow-gpu-metrics=false",
    ]
    if opts.model_control_mode == "poll":
        cmd.append(f"--repository-poll-secs={opts.poll_secs}")
    cmd += [f"--load-model={m}" for m in opts.load_models]
    return cmd + list(opts.extra_args)


# --------------------------------------------------------------------------------------------
# ports, pid file
# --------------------------------------------------------------------------------------------
def port_in_use(port: int, address: str = "0.0.0.0") -> bool:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return True
    return False


def free_port() -> int:
    """A TCP port nothing listens on right now (for tests and the demo)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_ports(opts: ServerOptions) -> None:
    for flag, port in (("--http-port", opts.http_port), ("--grpc-port", opts.grpc_port), ("--metrics-port", opts.metrics_port)):
        if port_in_use(port, opts.address):
            running = read_pidfile(opts.state_dir)
            hint = (
                f"; a tritonctl server (pid {running['pid']}) is running from {opts.state_dir}: `tritonctl stop`"
                if running
                else ""
            )
            raise ServeError(
                f"port {port} is already in use on {opts.address}; pick another with {flag} "
                f"or stop what listens there{hint}"
            )


def pidfile_path(state_dir: Path) -> Path:
    return Path(state_dir) / "server.pid"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def read_pidfile(state_dir: Path) -> dict | None:
    """The running server's record (pid, ports, log), or None; a stale file is removed."""
    path = pidfile_path(state_dir)
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not pid_alive(int(record.get("pid", -1))):
        path.unlink(missing_ok=True)
        return None
    return record


# --------------------------------------------------------------------------------------------
# talking to the server (stdlib only: no tritonclient import needed to start or stop)
# --------------------------------------------------------------------------------------------
def _http(method: str, url: str, body: bytes | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def is_live(http_url: str) -> bool:
    try:
        return _http("GET", f"http://{http_url}/v2/health/live", timeout=1.0)[0] == 200
    except (OSError, urllib.error.URLError):
        return False  # connection refused / reset: not ready yet


def is_ready(http_url: str) -> bool:
    try:
        return _http("GET", f"http://{http_url}/v2/health/ready", timeout=1.0)[0] == 200
    except (OSError, urllib.error.URLError):
        return False


def repository_index(http_url: str) -> list[dict]:
    """[{name, version, state, reason}] from Triton's repository API."""
    status, body = _http("POST", f"http://{http_url}/v2/repository/index", b"{}", timeout=10.0)
    if status != 200:
        raise ServeError(f"repository index at {http_url} answered {status}: {body[:200]!r}")
    return json.loads(body or b"[]")


def failed_models(index: list[dict]) -> list[dict]:
    return [m for m in index if m.get("state") == "UNAVAILABLE" and m.get("reason") not in ("", "unloaded")]


# --------------------------------------------------------------------------------------------
# the server process
# --------------------------------------------------------------------------------------------
class LocalServer:
    """One tritonserver process, in its own process group so that it and its stubs stop together."""

    def __init__(self, opts: ServerOptions):
        self.opts = opts
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None

    # -- start -------------------------------------------------------------------------------
    def start(self) -> "LocalServer":
        opts = self.opts
        if not opts.repository.is_dir():
            raise ServeError(
                f"model repository '{opts.repository}' does not exist; build it with "
                "`tritonctl build models.yaml` (or `make models`), or pass its path"
            )
        running = read_pidfile(opts.state_dir)
        if running:
            raise ServeError(
                f"a tritonctl server is already running from {opts.state_dir} (pid {running['pid']}, "
                f"HTTP {running.get('http_url')}); stop it with `tritonctl stop` or use --state-dir"
            )
        check_ports(opts)
        dist = find_distribution()
        opts.state_dir.mkdir(parents=True, exist_ok=True)
        backend_dir = prepare_backend_dir(opts.state_dir, dist)
        cmd = server_command(opts, dist, backend_dir)
        opts.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(opts.log_path, "wb")
        log.write(("$ " + " ".join(cmd) + "\n").encode())
        log.flush()
        self.proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=server_env(dist),
            start_new_session=True,  # own process group: Ctrl-C reaches tritonctl, which stops it cleanly
        )
        log.close()
        self.pid = self.proc.pid
        self._write_pidfile()
        return self

    def _write_pidfile(self) -> None:
        o = self.opts
        record = {
            "pid": self.pid,
            "http_url": o.http_url,
            "grpc_url": o.grpc_url,
            "metrics_url": o.metrics_url,
            "repository": str(o.repository.resolve()),
            "log": str(o.log_path.resolve()),
            "model_control_mode": o.model_control_mode,
            "exit_timeout_secs": o.exit_timeout_secs,
        }
        pidfile_path(o.state_dir).write_text(json.dumps(record, indent=2) + "\n")

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.opts.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and pid_alive(self.pid)

    # -- wait --------------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 180.0) -> list[dict]:
        """Wait until the server answers and no model is still loading; return the repository index.

        Raises ServeError (with the log's tail) when the process dies or the timeout passes.
        """
        deadline = time.monotonic() + timeout
        url = self.opts.http_url
        while True:
            if not self.running():
                code = self.proc.returncode if self.proc else "?"
                raise ServeError(
                    f"tritonserver exited with status {code} before it was ready; its log "
                    f"({self.opts.log_path}) ends with:\n{self.log_tail()}"
                )
            if is_live(url):
                try:
                    index = repository_index(url)
                except (OSError, ValueError, ServeError):
                    index = None
                if index is not None and not any(m.get("state") == "LOADING" for m in index):
                    if failed_models(index) or is_ready(url):
                        return index
            if time.monotonic() > deadline:
                raise ServeError(
                    f"tritonserver did not become ready within {timeout:.0f}s (raise --timeout); its log "
                    f"({self.opts.log_path}) ends with:\n{self.log_tail()}"
                )
            time.sleep(0.25)

    # -- stop --------------------------------------------------------------------------------
    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM (Triton lets in-flight requests finish), then SIGKILL what is left of the group."""
        if self.pid is None:
            return None
        timeout = self.opts.exit_timeout_secs + 15 if timeout is None else timeout
        code = stop_process_group(self.pid, timeout, proc=self.proc)
        record = read_pidfile(self.opts.state_dir)
        if record is None or record.get("pid") == self.pid:
            pidfile_path(self.opts.state_dir).unlink(missing_ok=True)
        return code


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # only zombies left? (our own child is reaped by proc.wait)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_process_group(pid: int, timeout: float, proc: subprocess.Popen | None = None) -> int | None:
    """Stop tritonserver ``pid`` (leader of its own process group) and every stub it started."""
    pgid = pid
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    code = None
    while time.monotonic() < deadline:
        if proc is not None:
            code = proc.poll()
            if code is not None:
                break
        elif not pid_alive(pid):
            break
        time.sleep(0.1)
    else:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if proc is not None:
            code = proc.wait(timeout=10)
    # Stubs normally exit with the server; give them a moment, then make sure.
    grace = time.monotonic() + 5
    while _group_alive(pgid) and time.monotonic() < grace:
        time.sleep(0.1)
    if _group_alive(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return code


def stop_recorded(state_dir: Path, timeout: float | None = None) -> dict | None:
    """Stop the server recorded in ``state_dir``'s pid file; its record, or None if none ran."""
    record = read_pidfile(state_dir)
    if record is None:
        return None
    timeout = int(record.get("exit_timeout_secs", 30)) + 15 if timeout is None else timeout
    stop_process_group(int(record["pid"]), timeout)
    pidfile_path(state_dir).unlink(missing_ok=True)
    return record


__all__ = [
    "CONTROL_MODES",
    "DEFAULT_STATE_DIR",
    "LocalServer",
    "ServerOptions",
    "TritonDist",
    "check_ports",
    "failed_models",
    "find_distribution",
    "free_port",
    "is_live",
    "is_ready",
    "prepare_backend_dir",
    "read_pidfile",
    "repository_index",
    "server_command",
    "server_env",
    "stop_recorded",
]
