"""Start and stop a real local Triton through `tritonctl serve` for tests (shared by the
integration and load-test suites; a plain module, so test files import it by a unique name)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# Free ports never handed out twice in this process; start_server retries when another process
# took one meanwhile.
from tritonctl.endpoints import PORT_TAKEN, free_port, free_ports  # noqa: F401 - re-exported for the tests
from tritonctl.process import ManagedProcess, NotReady

ROOT = Path(__file__).resolve().parents[2]


def tritonctl_cmd(*args: str, python: str = sys.executable) -> list[str]:
    return [python, "-m", "tritonctl", *args]


def run_tritonctl(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(tritonctl_cmd(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs)


@dataclass
class Served:
    process: ManagedProcess
    repo: Path
    state_dir: Path
    output: Path
    http_port: int
    grpc_port: int
    metrics_port: int

    @property
    def http_url(self) -> str:
        return f"localhost:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"localhost:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://localhost:{self.metrics_port}/metrics"

    @property
    def proc(self) -> subprocess.Popen:
        return self.process.proc

    def url(self, protocol: str) -> str:
        return self.grpc_url if protocol == "grpc" else self.http_url

    def log(self) -> str:
        text = self.output.read_text(errors="replace") if self.output.exists() else ""
        log = self.state_dir / "server.log"
        if log.exists():
            text += "\n--- server.log (tail) ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-80:])
        return text

    def stub_pids(self) -> list[int]:
        return stub_pids(self.state_dir)


def stub_pids(state_dir: Path) -> list[int]:
    """Live (non-zombie) Python backend stubs of the server run from ``state_dir`` (their command
    line names it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if "triton_python_backend_stub" in cmd and str(state_dir) in cmd and state != "Z":
            pids.append(int(entry.name))
    return pids


def start_server(
    repo: Path,
    workdir: Path,
    *extra: str,
    wait_for: str = "serving; press Ctrl-C",
    timeout: float = 300,
    expect_failure: bool = False,
    python: str = sys.executable,
) -> Served:
    """`tritonctl serve` in the foreground as a subprocess of ``python`` (another environment's
    interpreter, for a test of what that environment lacks); returns once it prints ``wait_for``."""
    workdir.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        served = _launch(repo, workdir, extra, python)
        if expect_failure:
            return served
        try:
            served.process.wait_ready(lambda: wait_for in served.output.read_text(errors="replace"), timeout,
                                      state=f"printing {wait_for!r}", interval=0.25)
            return served
        except NotReady:
            pass
        stop_server(served)
        if served.proc.returncode not in (0, None) and PORT_TAKEN in served.log() and attempt < 2:
            continue  # a port was taken between choosing it and binding it: new ports, once more
        print(f"tritonctl serve did not start:\n{served.log()}", file=sys.stderr)
        pytest.fail(f"tritonctl serve did not start; output and server log:\n{served.log()}")
    raise AssertionError("unreachable")


def _launch(repo: Path, workdir: Path, extra: tuple[str, ...], python: str) -> Served:
    ports = free_ports(3)
    state = workdir / "state"
    output = workdir / "serve.out"
    cmd = tritonctl_cmd(
        "serve",
        str(repo),
        "--http-port", str(ports[0]),
        "--grpc-port", str(ports[1]),
        "--metrics-port", str(ports[2]),
        "--address", "127.0.0.1",
        "--state-dir", str(state),
        "--exit-timeout", "5",
        *extra,
        python=python,
    )
    # in our process group (group=False): a Ctrl-C of the test run reaches it, as a user's would
    process = ManagedProcess(cmd, output, name="tritonctl serve", cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                             group=False)
    return Served(process.start(), repo, state, output, *ports)


def stop_server(served: Served, timeout: float = 60) -> int | None:
    """SIGTERM to `tritonctl serve` (what Ctrl-C does), then make sure nothing is left."""
    proc = served.proc
    served.process.stop(timeout)
    # belt and braces: a server left behind by a broken serve is stopped through its pid file
    subprocess.run(tritonctl_cmd("stop", "--state-dir", str(served.state_dir), "--timeout", "10"), capture_output=True, cwd=ROOT)
    return proc.returncode


class SteadyLoad:
    """Closed-loop requests to one model from one client thread per protocol: the background load
    of tests that change the server under it (a kill, a push). Every answer is counted (and given
    to ``check``, which raises on a wrong one), the last per protocol kept, every failure kept."""

    def __init__(self, served: Served, model: str, inputs: dict, output: str,
                 protocols=("grpc", "http"), check=None):
        import threading

        self.served, self.model, self.inputs, self.output, self.check = served, model, inputs, output, check
        self.ok = 0
        self.errors: list[str] = []
        self.last: dict = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(p,), daemon=True) for p in protocols]

    def _run(self, protocol: str) -> None:
        from tritonctl import client as tc

        with tc.closing(tc.make_client(self.served.url(protocol), protocol)) as c:
            while not self.stop.is_set():
                try:
                    y = tc.infer(c, self.model, self.inputs)[self.output]
                    if self.check is not None:
                        self.check(y)
                    with self.lock:
                        self.ok += 1
                        self.last[protocol] = y
                except Exception as exc:  # every kind of failure is kept: the test decides which are expected
                    with self.lock:
                        self.errors.append(f"{protocol}: {exc}")
                    time.sleep(0.05)  # a dead server refuses at once: do not spin

    def requests_after(self, n: int, timeout: float = 60) -> None:
        """Wait until ``n`` more answers came back."""
        deadline = time.monotonic() + timeout
        start = self.ok
        while self.ok < start + n:
            assert time.monotonic() < deadline, f"load stalled at {self.ok} answers; failures: {self.errors[:3]}"
            time.sleep(0.05)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        assert not any(t.is_alive() for t in self.threads), "a client hung on a dead server"
