"""Start, wait for and stop the local ``tritonserver`` (one process group with its stubs).

``ServerOptions`` validates the command line of ``tritonctl serve``; ``LocalServer`` starts the
binary of the nvidia-pytriton wheel (``distribution``) on a backend directory it assembles,
records it in the state directory's pid file (so ``tritonctl stop`` finds it), waits until
every model has loaded or failed (``health``, one client for the whole wait) and stops the whole
process group (``tritonctl.process.ManagedProcess``).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tritonctl import client as tc
from tritonctl import endpoints, statedir
from tritonctl.endpoints import free_port, port_in_use  # noqa: F401 - the launcher's port helpers
from tritonctl.errors import ServeError
from tritonctl.process import ManagedProcess, log_tail, pid_alive, stop_process_group
from tritonctl.server.distribution import TritonDist, find_distribution, prepare_backend_dir, server_env
from tritonctl.server.health import ModelStatus, settled_index

CONTROL_MODES = ("none", "poll", "explicit")


# --------------------------------------------------------------------------------------------
# options and command line
# --------------------------------------------------------------------------------------------
@dataclass
class ServerOptions:
    repository: Path
    http_port: int = endpoints.DEFAULT_HTTP_PORT
    grpc_port: int = endpoints.DEFAULT_GRPC_PORT
    metrics_port: int = endpoints.DEFAULT_METRICS_PORT
    address: str = endpoints.DEFAULT_ADDRESS
    model_control_mode: str = "none"
    load_models: list[str] = field(default_factory=list)
    poll_secs: int = 2
    log_verbose: int = 0
    exit_timeout_secs: int = 30
    state_dir: Path = Path(statedir.DEFAULT_STATE_DIR)
    log_file: Path | None = None
    extra_args: list[str] = field(default_factory=list)
    # s3://, gs:// or as:// repository (tritonctl.storage.location.Location): Triton reads it itself
    remote: object | None = None

    def __post_init__(self):
        if isinstance(self.repository, str) and "://" in self.repository and not self.repository.startswith("file://"):
            from tritonctl.storage.location import parse

            self.remote = parse(self.repository)
        self.repository = self.remote.triton_url if self.remote else Path(self.repository)
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
    def repository_arg(self) -> str:
        """What --model-repository gets: an absolute directory, or the URL in Triton's own form."""
        return self.remote.triton_url if self.remote else str(self.repository.resolve())

    @property
    def log_path(self) -> Path:
        return Path(self.log_file) if self.log_file else statedir.server_log_path(self.state_dir)

    @property
    def host(self) -> str:
        return endpoints.connect_host(self.address)

    @property
    def http_url(self) -> str:
        return endpoints.host_port(self.host, self.http_port)

    @property
    def grpc_url(self) -> str:
        return endpoints.host_port(self.host, self.grpc_port)

    @property
    def metrics_url(self) -> str:
        return endpoints.metrics_url(self.host, self.metrics_port)


def format_summary(opts: ServerOptions, index: list[ModelStatus], pid: int) -> str:
    """What `tritonctl serve` (and bench.with_server) print once the server is ready."""
    lines = [
        f"Triton is serving {opts.repository} (pid {pid}, model control mode {opts.model_control_mode})",
        f"  HTTP     http://{opts.http_url}",
        f"  gRPC     {opts.grpc_url}",
        f"  metrics  {opts.metrics_url}",
        f"  log      {opts.log_path}",
    ]
    if index:
        width = max(len(m.name) for m in index)
        lines.append("models:")
        for m in sorted(index, key=lambda m: (m.name, int(m.version or 0))):
            reason = f"  {m.reason.splitlines()[0]}" if m.reason and not m.ready else ""
            lines.append(f"  {m.name:<{width}}  v{m.version or '-':<3} {m.state.value}{reason}")
    else:
        lines.append("models: none loaded" + (" (load them with `tritonctl load NAME`)" if opts.model_control_mode == "explicit" else ""))
    return "\n".join(lines)


def server_command(opts: ServerOptions, dist: TritonDist, backend_dir: Path) -> list[str]:
    cmd = [
        str(dist.binary),
        f"--model-repository={opts.repository_arg}",
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
# ports, the pid file (names, places and the record's reading: tritonctl.statedir)
# --------------------------------------------------------------------------------------------
def check_ports(opts: ServerOptions) -> None:
    for flag, port in (("--http-port", opts.http_port), ("--grpc-port", opts.grpc_port), ("--metrics-port", opts.metrics_port)):
        if port_in_use(port, opts.address):
            running = statedir.read_pidfile(opts.state_dir)
            hint = (
                f"; a tritonctl server (pid {running['pid']}) is running from {opts.state_dir}: `tritonctl stop`"
                if running
                else ""
            )
            raise ServeError(
                f"port {port} is already in use on {opts.address}; pick another with {flag} "
                f"or stop what listens there{hint}"
            )


def local_urls(state_dir: Path | str = statedir.DEFAULT_STATE_DIR) -> tuple[str, str]:
    """(HTTP, gRPC) host:port of the server running from ``state_dir``, else Triton's defaults."""
    record = statedir.read_pidfile(Path(state_dir)) or {}
    return (record.get("http_url") or endpoints.DEFAULT_URLS["http"], record.get("grpc_url") or endpoints.DEFAULT_URLS["grpc"])


# --------------------------------------------------------------------------------------------
# the server process
def _check_remote(loc) -> None:
    """Before Triton starts: the bucket is reachable with these credentials and holds models.
    Triton's own message for each of these is one opaque line in its log."""
    from tritonctl.storage.store import Store

    objects = Store(loc).check_bucket_and_list()
    if not any(rel.endswith("/config.pbtxt") for rel in objects):
        raise ServeError(
            f"{loc} holds no model (no <model>/config.pbtxt among its {len(objects)} object(s)); "
            f"publish one with `tritonctl push model_repository {loc}`"
        )


# --------------------------------------------------------------------------------------------
_LOADING = re.compile(r'"loading: (?P<name>[^:"]+):(?P<version>\d+)"')
_LOADED = re.compile(r'"successfully loaded \'(?P<name>[^\']+)\'')
_FAILED = re.compile(r'"failed to load \'(?P<name>[^\']+)\'')


@dataclass
class LoadProgress:
    """Which models Triton's log says are loading, loaded or failed (names; versions load together)."""

    loading: set = field(default_factory=set)
    loaded: set = field(default_factory=set)
    failed: set = field(default_factory=set)

    def update(self, log_text: str) -> bool:
        """Read log lines; True when anything changed."""
        before = (set(self.loading), set(self.loaded), set(self.failed))
        for line in log_text.splitlines():
            if m := _LOADING.search(line):
                self.loading.add(m["name"])
            elif m := (_LOADED.search(line) or _FAILED.search(line)):
                self.loading.discard(m["name"])
                (self.loaded if "successfully" in line else self.failed).add(m["name"])
        return (self.loading, self.loaded, self.failed) != before


class LocalServer:
    """One tritonserver process, in its own process group so that it and its stubs stop together."""

    def __init__(self, opts: ServerOptions):
        self.opts = opts
        self.process: ManagedProcess | None = None

    @property
    def proc(self) -> subprocess.Popen | None:
        return self.process.proc if self.process else None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    # -- start -------------------------------------------------------------------------------
    def start(self) -> "LocalServer":
        opts = self.opts
        if opts.remote is not None:
            _check_remote(opts.remote)
        elif not opts.repository.is_dir():
            raise ServeError(
                f"model repository '{opts.repository}' does not exist; build it with "
                "`tritonctl build models.yaml` (or `make models`), or pass its path"
            )
        running = statedir.read_pidfile(opts.state_dir)
        if running:
            raise ServeError(
                f"a tritonctl server is already running from {opts.state_dir} (pid {running['pid']}, "
                f"HTTP {running.get('http_url')}); stop it with `tritonctl stop` or use --state-dir"
            )
        check_ports(opts)
        dist = find_distribution()
        opts.state_dir.mkdir(parents=True, exist_ok=True)
        backend_dir = prepare_backend_dir(opts.state_dir, dist)
        # its own process group: Ctrl-C reaches tritonctl, which stops it (and its stubs) cleanly;
        # SIGTERM goes to tritonserver alone, which lets in-flight requests finish, then its stubs go
        self.process = ManagedProcess(server_command(opts, dist, backend_dir), opts.log_path, name="tritonserver",
                                      env=server_env(dist), header=True).start()
        self._write_pidfile()
        return self

    def _write_pidfile(self) -> None:
        o = self.opts
        record = {
            "pid": self.pid,
            "http_url": o.http_url,
            "grpc_url": o.grpc_url,
            "metrics_url": o.metrics_url,
            "repository": o.repository_arg,
            "log": str(o.log_path.resolve()),
            "model_control_mode": o.model_control_mode,
            "exit_timeout_secs": o.exit_timeout_secs,
        }
        statedir.write_pidfile(o.state_dir, record)

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.opts.log_path, lines)

    def running(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and pid_alive(self.pid)

    # -- wait --------------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 180.0, cancelled=None, progress=None) -> list[ModelStatus] | None:
        """Wait until the server answers and no model is still loading; return the repository index
        (None when ``cancelled()`` turned true first: a signal arrived).

        ``progress(LoadProgress)`` is called whenever a model started, finished or failed loading.
        Triton (mode none, poll) loads every model before it opens its endpoints, so this comes from
        its log, the one thing that speaks during those minutes.
        Raises ``NotReady`` (a ServeError, with the log's tail) when the process dies or the
        timeout passes. One client polls for the whole wait.
        """
        seen = LoadProgress()
        offset = 0

        def poll():
            nonlocal offset
            if progress is not None:
                try:
                    with open(self.opts.log_path, "rb") as f:
                        f.seek(offset)
                        chunk = f.read()
                except OSError:
                    chunk = b""
                complete = chunk.rfind(b"\n") + 1  # whole lines only: the rest is read next time
                offset += complete
                if seen.update(chunk[:complete].decode(errors="replace")):
                    progress(seen)
            return settled_index(client)

        # connection_timeout: a server that accepts but does not answer yet is polled again soon
        with tc.closing(tc.make_client(f"http://{self.opts.http_url}", connection_timeout=2.0,
                                       network_timeout=10.0)) as client:
            settled = self.process.wait_ready(poll, timeout, interval=0.25,
                                              hint="raise --timeout", cancelled=cancelled)
        return None if settled is None else settled.index

    # -- stop --------------------------------------------------------------------------------
    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM (Triton lets in-flight requests finish), then SIGKILL what is left of the group."""
        if self.pid is None:
            return None
        timeout = self.opts.exit_timeout_secs + 15 if timeout is None else timeout
        code = self.process.stop(timeout)
        record = statedir.read_pidfile(self.opts.state_dir)
        if record is None or record.get("pid") == self.pid:
            statedir.remove_pidfile(self.opts.state_dir)
        return code


def stop_recorded(state_dir: Path, timeout: float | None = None) -> dict | None:
    """Stop the server recorded in ``state_dir``'s pid file; its record, or None if none ran."""
    record = statedir.read_pidfile(state_dir)
    if record is None:
        return None
    timeout = int(record.get("exit_timeout_secs", 30)) + 15 if timeout is None else timeout
    stop_process_group(int(record["pid"]), timeout)
    statedir.remove_pidfile(state_dir)
    return record
