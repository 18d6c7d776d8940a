"""Process helpers: is a pid (or a process group) alive, stop a group or a child, wait for an HTTP answer.

One copy for the launcher (tritonserver and its Python backend stubs share a process group),
the repository writer (a staging directory named after a build's pid), the peer benchmark
(TorchServe, gunicorn), ``bench.with_server`` and the tests' own servers (moto, Prometheus, Locust). Linux semantics: a zombie counts as dead, read from ``/proc``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


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


def wait_until(ready, timeout: float, proc: subprocess.Popen | None = None, what: str = "the server",
               state: str = "ready") -> None:
    """Poll ``ready()`` every half second until it returns true; RuntimeError when ``proc`` exits
    first or time runs out. OSError, ValueError, KeyError and IndexError from ``ready()`` count as
    "not yet": a server half up refuses connections or answers with an incomplete body.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was {state}")
        try:
            if ready():
                return
        except (OSError, ValueError, KeyError, IndexError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{what} was not {state} within {timeout:.0f}s")


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
