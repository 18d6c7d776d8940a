"""Where tritonctl keeps its local state: the state directory (``.tritonctl/``, every command's
``--state-dir``), the names of the files ``tritonctl serve`` writes there, and the pid file that
records the running server (pid, URLs, repository, log) so that ``stop``, ``status``, ``tune`` and
a second ``serve`` find it.

The backend directory (``server.distribution``) and perf_analyzer (``bench.perf_analyzer``) live
in the same directory. Stdlib and ``process`` only: every command imports it before anything heavy.
"""

from __future__ import annotations

import json
from pathlib import Path

from tritonctl.process import pid_alive

DEFAULT_STATE_DIR = ".tritonctl"
PIDFILE_NAME = "server.pid"
SERVER_LOG_NAME = "server.log"


def pidfile_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / PIDFILE_NAME


def server_log_path(state_dir: str | Path) -> Path:
    return Path(state_dir) / SERVER_LOG_NAME


def read_pidfile(state_dir: str | Path) -> dict | None:
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


def write_pidfile(state_dir: str | Path, record: dict) -> None:
    pidfile_path(state_dir).write_text(json.dumps(record, indent=2) + "\n")


def remove_pidfile(state_dir: str | Path) -> None:
    pidfile_path(state_dir).unlink(missing_ok=True)
