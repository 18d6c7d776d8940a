"""Child processes: start one in its own process group, wait until it is ready, stop it with
everything it started (``ManagedProcess``); pid and process-group liveness; ``NotReady``.

One copy for every server tritonctl or its tests start: the local Triton (``server.launcher``),
TorchServe (``importer.verify``, ``benchmarks/peers_servers.py``), gunicorn and the Python peers,
``tritonctl serve`` run by ``import --verify`` and by the test kits, the rehearsal cluster's
components; the repository writer asks ``pid_alive`` whether a staging directory's build still
runs. A low layer (stdlib and ``errors`` only), so that modules at every level may import it.
Linux semantics: a zombie counts as dead, read from ``/proc``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, TypeVar

from tritonctl.errors import ServeError

T = TypeVar("T")


class NotReady(ServeError):
    """A process (or a model) did not become ready: it exited first (``process_status`` is its exit status)
    or the time ran out (``process_status`` is None). The one timeout error of tritonctl's waits."""

    process_status: int | None = None

    def __init__(self, message: str, process_status: int | None = None):
        super().__init__(message)
        self.process_status = process_status


def pid_alive(pid: int) -> bool:
    """True when ``pid`` runs (a zombie does not; another user's process does)."""
    if pid <= 0:  # 0 and negatives address process groups in kill(2), never one process
        return False
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


def group_alive(pgid: int) -> bool:
    """True when a process of group ``pgid`` other than a zombie is left."""
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


def stop_process_group(pid: int, timeout: float, proc: subprocess.Popen | None = None,
                       term_group: bool = False) -> int | None:
    """Stop ``pid`` (leader of its own process group) and everything it started; its exit status.

    SIGTERM goes to the leader (``term_group``: to the whole group), which gets ``timeout``
    seconds to exit (Triton lets in-flight requests finish); then SIGKILL. Children normally exit
    with their leader; whatever is left of the group after 5 more seconds is killed.
    """
    pgid = pid
    try:
        if term_group:
            os.killpg(pgid, signal.SIGTERM)
        else:
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
    grace = time.monotonic() + 5
    while group_alive(pgid) and time.monotonic() < grace:
        time.sleep(0.1)
    if group_alive(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        # SIGKILL is delivered asynchronously: return once the group is gone, so that a caller
        # that reuses its ports or files finds them free
        gone = time.monotonic() + 5
        while group_alive(pgid) and time.monotonic() < gone:
            time.sleep(0.05)
    return code


def stop_group(proc: subprocess.Popen, timeout: float = 30) -> int | None:
    """Stop a child started with ``start_new_session=True``: SIGTERM to its group, then SIGKILL."""
    if proc.poll() is not None:
        return proc.returncode
    return stop_process_group(proc.pid, timeout, proc=proc, term_group=True)


def stop_child(proc: subprocess.Popen, timeout: float = 30) -> int | None:
    """Stop a child that shares our process group: SIGTERM, ``timeout`` seconds to exit, then
    SIGKILL; its exit status. (A child started with ``start_new_session=True``: ``stop_group``,
    which also stops what it started.)"""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def wait_until(ready: Callable[[], T], timeout: float, proc: subprocess.Popen | None = None,
               what: str = "the server", state: str = "ready", *, interval: float = 0.5,
               hint: str = "", cancelled: Callable[[], bool] | None = None) -> T | None:
    """Poll ``ready()`` every ``interval`` seconds until it returns a true value, which is returned.

    ``NotReady`` when ``proc`` exits first or ``timeout`` passes (``hint``, e.g. "raise --timeout",
    is added to the latter); None as soon as ``cancelled()`` is true (a signal arrived). OSError,
    ValueError, KeyError and IndexError from ``ready()`` count as "not yet": a server half up
    refuses connections or answers with an incomplete body.
    """
    deadline = time.monotonic() + timeout
    while True:
        if cancelled is not None and cancelled():
            return None
        try:
            answer = ready()
            if answer:
                return answer
        except (OSError, ValueError, KeyError, IndexError):
            pass
        # asked after ready(): a process that got ready and then exited by design (`serve --detach`
        # prints its line, then returns) is ready, not failed
        if proc is not None and proc.poll() is not None:
            raise NotReady(f"{what} exited with status {proc.returncode} before it was {state}", proc.returncode)
        if time.monotonic() >= deadline:
            raise NotReady(f"{what} did not become {state} within {timeout:.0f}s" + (f" ({hint})" if hint else ""))
        time.sleep(interval)


def http_status(url: str, timeout: float = 2, context=None) -> int:
    """The HTTP status ``url`` answers (an error status too); OSError when nothing answers.
    ``context``: an ``ssl.SSLContext`` for https (a CA, a client certificate)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, what: str = "the server") -> None:
    """Wait until ``url`` answers 200 (see wait_until).

    For servers that are not Triton (TorchServe's /ping, gunicorn): Triton's own readiness goes
    through ``tritonctl.server.health``.
    """
    wait_until(lambda: http_status(url) == 200, timeout, proc, what, f"answering {url}")


def log_tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a log file (what a failed start shows the user)."""
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ManagedProcess:
    """One child process, its output in ``log``: start, wait until ready, stop.

    ``group=True`` (the default) starts it in its own process group, so that it and whatever it
    starts (Triton's backend stubs, TorchServe's Java frontend and workers, gunicorn's workers)
    stop together and Ctrl-C reaches only us; ``stop`` then sends SIGTERM to the leader
    (``term_group``: to the whole group), waits, SIGKILLs, and kills what is left of the group.
    ``group=False`` keeps the child in our group (a test kit's `tritonctl serve`, which Ctrl-C
    should reach too): SIGTERM, then SIGKILL, to the child alone.
    A failed wait raises ``NotReady`` with the log's tail; the process is then still running
    (the caller's ``with`` block, or ``stop``, ends it).
    """

    def __init__(self, cmd: list[str], log: Path | None, *, name: str, env: dict | None = None, cwd: Path | None = None,
                 group: bool = True, term_group: bool = False, header: bool = False, append: bool = False,
                 stop_timeout: float = 30, tail_lines: int = 60):
        self.cmd, self.log, self.name = [str(c) for c in cmd], Path(log) if log else None, name
        self.env, self.cwd, self.group, self.term_group = env, cwd, group, term_group
        self.header, self.append, self.stop_timeout, self.tail_lines = header, append, stop_timeout, tail_lines
        self.proc: subprocess.Popen | None = None

    def start(self) -> "ManagedProcess":
        if self.log is None:  # a command of the user's: our terminal, our stdin
            self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=self.cwd, start_new_session=self.group)
            return self
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab" if self.append else "wb") as out:
            if self.header:  # the exact command line first: what to rerun by hand
                out.write(("$ " + " ".join(self.cmd) + "\n").encode())
                out.flush()
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=self.env, cwd=self.cwd, start_new_session=self.group)
        return self

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log, lines) if self.log else "(output not logged)"

    def wait_ready(self, ready: Callable[[], T], timeout: float, *, state: str = "ready", interval: float = 0.5,
                   hint: str = "", cancelled: Callable[[], bool] | None = None) -> T | None:
        """``wait_until`` on this process; a ``NotReady`` carries the log's last ``tail_lines`` lines."""
        try:
            return wait_until(ready, timeout, self.proc, self.name, state, interval=interval, hint=hint,
                              cancelled=cancelled)
        except NotReady as exc:
            raise NotReady(f"{exc}; its log ({self.log}) ends with:\n{self.log_tail(self.tail_lines)}",
                           exc.process_status) from None

    def wait_http(self, url: str, timeout: float, **kwargs) -> None:
        """Until ``url`` answers 200 (servers that are not Triton: TorchServe's /ping, gunicorn)."""
        self.wait_ready(lambda: http_status(url) == 200, timeout, state=f"answering {url}", **kwargs)

    def stop(self, timeout: float | None = None) -> int | None:
        """Stop it (and, with ``group``, everything it started); its exit status. Safe to call twice."""
        if self.proc is None:
            return None
        timeout = self.stop_timeout if timeout is None else timeout
        if self.proc.poll() is not None and not (self.group and group_alive(self.proc.pid)):
            return self.proc.returncode  # nothing left to stop (what it started went with it)
        if self.group:
            return stop_process_group(self.proc.pid, timeout, proc=self.proc, term_group=self.term_group)
        return stop_child(self.proc, timeout)

    def __enter__(self) -> "ManagedProcess":
        return self if self.proc is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
