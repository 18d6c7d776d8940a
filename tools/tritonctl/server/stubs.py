"""The Python backend stubs of a running tritonserver, and which of them died while still needed.

Triton's Python backend (which also runs the CPU ``onnxruntime`` and ``pytorch`` backends of
``tritonctl serve``) starts one ``triton_python_backend_stub`` process per model instance, as a
child of tritonserver. When one dies (OOM killer, ``kill -9``), Triton 2.51 neither restarts it
nor reports it: ``/v2/health/live``, ``/v2/health/ready`` and the model's readiness stay 200 while
every request to that instance fails with "Stub process '<instance>' is not healthy.".

Stubs also stop legitimately, and ``StubWatch`` must not take those for a crash:

- an unload (explicit or poll mode): the model version leaves READY (UNLOADING, then UNAVAILABLE)
  before its stubs stop;
- a reload (a new config or version): Triton starts the new instances' stubs before it stops the
  old ones, so a same-named stub runs again; a smaller ``instance_group`` drops instance names;
- the short-lived stub the Python backend starts while loading a model, named after the model
  rather than an instance.

- a failed reload (a new config Triton refuses, as tune's candidates may be): the candidate's
  stub starts beside the serving one and exits, while the old stub goes on serving.

So a stub counts as dead when its process is gone while its model version is READY, the served
config still has its instance (``<group name>_<index>``, as Triton names instances), no other stub
of that instance still runs, and it was the newest stub seen for that instance of that version (by start time: an old stub and its replacement
can both be gone by the next look, when the replacement was killed right after a reload). Triton is
asked only when a stub disappears.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from tritonctl import client as tc
from tritonctl.server.health import ModelState, model_statuses

STUB_BINARY = "triton_python_backend_stub"


@dataclass(frozen=True)
class Stub:
    """One running stub: its pid and start time, and the model version and instance it serves."""

    pid: int
    started: int  # clock ticks since boot (/proc/PID/stat field 22)
    model: str
    version: str
    instance: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model, self.version, self.instance)


def _parse(pid: int, started: int, argv: list[str]) -> Stub | None:
    # the stub's command line on Triton 2.51: binary, model file (<repo>/<model>/<version>/<file>;
    # a downloaded copy for s3:// gs:// as://), shm region, shm sizes, parent pid, library dir,
    # ipc handle, instance name, ...
    if len(argv) < 9 or os.path.basename(argv[0]) != STUB_BINARY:
        return None
    parts = argv[1].rstrip("/").split("/")
    if len(parts) < 3:
        return None
    return Stub(pid, started, model=parts[-3], version=parts[-2], instance=argv[8])


def backend_stubs(server_pid: int) -> list[Stub]:
    """The live (not zombie) stubs whose parent is ``server_pid``."""
    stubs = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z" or int(fields[1]) != server_pid:
                continue
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except (OSError, IndexError, ValueError):
            continue  # exited while we looked
        stub = _parse(int(entry.name), int(fields[19]), argv)
        if stub is not None:
            stubs.append(stub)
    return stubs


def instance_names(config: dict) -> set[str]:
    """The instance names Triton gives a served config: ``<group name>_<index>`` per group (the
    served config carries the group names Triton filled in, ``<model>_<group index>``)."""
    names = set()
    for i, group in enumerate(config.get("instance_group") or []):
        base = group.get("name") or f"{config.get('name')}_{i}"
        names.update(f"{base}_{k}" for k in range(int(group.get("count") or 1)))
    return names


class StubWatch:
    """Notices stubs of ``server_pid`` that died while Triton still serves their instance.

    ``poll()`` is cheap while nothing changes (one scan of ``/proc``); it asks Triton (at
    ``url``, HTTP) what should run only when a stub it saw before has disappeared.
    """

    def __init__(self, server_pid: int, url: str):
        self.server_pid = server_pid
        self.url = url
        self.running: dict[int, Stub] = {}
        self.vanished: dict[int, Stub] = {}  # gone, not yet explained
        self.newest: dict[tuple[str, str, str], int] = {}  # start time of the newest stub seen per instance
        self._see(backend_stubs(server_pid))

    def _see(self, live: list[Stub]) -> None:
        live_pids = {s.pid for s in live}
        self.vanished.update({pid: s for pid, s in self.running.items() if pid not in live_pids})
        self.running = {s.pid: s for s in live}
        for s in live:
            self.newest[s.key] = max(self.newest.get(s.key, s.started), s.started)

    def poll(self) -> list[Stub]:
        """The stubs that died while their instance should still run (empty: all is well)."""
        self._see(backend_stubs(self.server_pid))
        if not self.vanished:
            return []
        try:
            expected = self._expected_instances({(s.model, s.version) for s in self.vanished.values()})
        except Exception:  # noqa: BLE001 - the server is busy or stopping: look again at the next poll
            return []
        still_running = {s.key for s in self.running.values()}
        dead = [
            s for s in self.vanished.values()
            if s.instance in expected.get((s.model, s.version), set())
            and s.started >= self.newest[s.key]
            and s.key not in still_running  # a failed reload's stub exits while the old one serves
        ]
        self.vanished.clear()
        return sorted(dead, key=lambda s: s.key)

    def _expected_instances(self, versions: set[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
        """For each of ``versions`` that Triton reports READY, the instance names its config has."""
        with tc.closing(tc.make_client(f"http://{self.url}", network_timeout=10)) as c:
            ready = {(m.name, m.version) for m in model_statuses(c) if m.state is ModelState.READY}
            return {(model, version): instance_names(tc.get_config(c, model, version))
                    for model, version in versions if (model, version) in ready}


def describe(dead: list[Stub]) -> str:
    """One line: which stubs died, and what to do."""
    which = ", ".join(f"model '{s.model}' version {s.version} instance {s.instance} (pid {s.pid})" for s in dead)
    return (
        f"backend stub died while its model is loaded: {which}; Triton does not restart it and fails every "
        "request to that instance, so the server is stopped: run `tritonctl serve` again, or let your "
        "supervisor restart it (systemd Restart=on-failure, Kubernetes restartPolicy); if the kernel's OOM "
        "killer did it (dmesg), give the server more memory or fewer instances"
    )
