"""Run the local tritonserver (nvidia-pytriton's binary) as the chart's Triton container would run:
the rendered args and env, and, with ``sandbox=True``, under the pod's constraints:

- a private mount namespace (``unshare -m``) whose root is the host's, bind-mounted read-only
  (``readOnlyRootFilesystem``);
- each emptyDir of the container (``/tmp``, ``/dev/shm``) a tmpfs of its ``sizeLimit``, the only
  writable places;
- the model-repository volume: the local repository bind-mounted read-only at its mountPath;
- ``setpriv`` to the pod's runAsUser/runAsGroup, no supplementary groups, no capabilities
  (``capabilities.drop: [ALL]``), no new privileges (``allowPrivilegeEscalation: false``).

What differs from the pod, and why: the ports (free ones; a pod has its own network namespace),
and ``--backend-directory`` (the image has its backends at /opt/tritonserver/backends; here
tritonctl's CPU backends are bind-mounted read-only at /triton-backends). The interpreter of
this environment is made readable to the pod's user where its prefix sits under a directory the
user cannot enter (pyenv under /root): the image's Python is world-readable too.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tritonctl.process import ManagedProcess, NotReady

BACKENDS_MOUNT = "/triton-backends"


DOUBLE_MODEL_PY = '''
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for request in requests:
            x = pb_utils.get_input_tensor_by_name(request, "x").as_numpy()
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("y", (2 * x).astype(np.float32))]))
        return out
'''
DOUBLE_CONFIG = '''name: "double"
backend: "python"
max_batch_size: 8
input [ { name: "x" data_type: TYPE_FP32 dims: [ 4 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 4 ] } ]
instance_group [ { kind: KIND_CPU count: 1 } ]
'''



def write_double_model(repository: Path) -> Path:
    """A one-model repository: ``double`` (Python backend, FP32 [4] -> 2x), for the tests that
    start a Triton with the chart's args and call it as the helm test script does."""
    (repository / "double" / "1").mkdir(parents=True)
    (repository / "double" / "config.pbtxt").write_text(DOUBLE_CONFIG)
    (repository / "double" / "1" / "model.py").write_text(DOUBLE_MODEL_PY)
    return repository


def quantity_bytes(q: str) -> int:
    from kubernetes.utils import parse_quantity

    return int(parse_quantity(q))


def secret_data(objs: list[dict]) -> dict[tuple[str, str], str]:
    """{(Secret name, key): decoded value} of the Secrets among the rendered objects."""
    out = {}
    for obj in objs:
        if obj["kind"] == "Secret":
            for key, value in (obj.get("data") or {}).items():
                out[(obj["metadata"]["name"], key)] = base64.b64decode(value).decode()
            for key, value in (obj.get("stringData") or {}).items():
                out[(obj["metadata"]["name"], key)] = str(value)
    return out


def container_env(container: dict, objs: list[dict] = ()) -> dict[str, str]:
    """The container's env as the kubelet gives it: literal values, and values of a
    ``secretKeyRef`` read from a Secret among ``objs`` (the release's own). Any other source (a
    Secret the release does not render, a field) has no local meaning: refused."""
    secrets = secret_data(objs)
    env = {}
    for e in container.get("env") or []:
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if ref and (ref["name"], ref["key"]) in secrets:
            env[e["name"]] = secrets[(ref["name"], ref["key"])]
            continue
        assert "valueFrom" not in e, f"env {e['name']} comes from {e['valueFrom']}; run a scenario without it"
        env[e["name"]] = str(e.get("value", ""))  # the API server stores an empty value as none
    return env


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' expansion of command and args: ``$(VAR)`` becomes the value of a variable of
    the container's env, an undefined one stays as written, ``$$`` is a literal ``$``."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), text)


def chart_args(container: dict, ports: dict[str, int], repository: str | None = None,
               env: dict[str, str] | None = None) -> list[str]:
    """The rendered args, ``$(VAR)`` expanded from ``env`` (the container's, see container_env),
    with the ports (and, outside the sandbox, the repository path) replaced."""
    replaced = {f"--{name}-port": str(port) for name, port in ports.items()}
    if repository is not None:
        replaced["--model-repository"] = repository
    out = []
    for arg in container["args"]:
        arg = expand(arg, env or {})
        flag = arg.split("=", 1)[0]
        out.append(f"{flag}={replaced[flag]}" if flag in replaced else arg)
    return out


@dataclass
class PodVolumes:
    tmpfs: dict[str, int]  # mountPath -> size in bytes (each emptyDir)
    repository_mount: str | None  # mountPath of the read-only model repository


def pod_volumes(pod_spec: dict, container: dict) -> PodVolumes:
    volumes = {v["name"]: v for v in pod_spec.get("volumes") or []}
    tmpfs, repo = {}, None
    for m in container.get("volumeMounts") or []:
        vol = volumes[m["name"]]
        if "emptyDir" in vol:
            size = vol["emptyDir"].get("sizeLimit")
            assert size, f"emptyDir {m['name']} has no sizeLimit: it could fill the node's disk"
            tmpfs[m["mountPath"]] = quantity_bytes(size)
        elif m["name"] == "model-repository":
            assert m.get("readOnly"), "the model repository should be mounted read-only"
            repo = m["mountPath"]
        else:
            raise AssertionError(f"volume {m['name']} ({list(vol)}) has no local equivalent in this test")
    return PodVolumes(tmpfs, repo)


def _unreadable_ancestor(path: Path) -> Path | None:
    """The top-most ancestor of ``path`` that others cannot enter (mode lacks o+x), if any."""
    for parent in reversed(path.parents):
        if parent != Path("/") and not parent.stat().st_mode & 0o001:
            return parent
    return None


def image_paths() -> list[Path]:
    """Host paths that stand in for the image's own files: the venv (tritonserver, its Python
    backend and the interpreter's packages) and the project (the CPU backends import tritonctl)."""
    return sorted({Path(sys.prefix).resolve(), Path(__file__).resolve().parents[2]})


def sandbox_script(*, staging: Path, volumes: PodVolumes, repository: Path, backends: Path,
                   uid: int, gid: int, command: list[str]) -> str:
    """The bash script run by ``unshare -m``: assemble the pod's filesystem view, drop to the
    pod's user and exec ``command``."""
    q = shlex.quote
    root = staging / "root"
    lines = ["set -euo pipefail", f"R={q(str(root))}", 'mount -t tmpfs -o mode=0755,size=16m pod-root "$R"']
    for entry in sorted(Path("/").iterdir()):
        target = f'"$R"/{q(entry.name)}'
        if entry.is_symlink():
            lines.append(f"ln -s {q(os.readlink(entry))} {target}")
        elif entry.is_dir():
            lines += [f"mkdir {target}", f"mount --rbind {q(str(entry))} {target}"]
        elif entry.is_file():
            lines += [f"touch {target}", f"mount --bind {q(str(entry))} {target}"]
    # Everything bound so far read-only, submounts included (/proc and /sys have pseudo
    # submounts that refuse a remount; they are not writable by the pod's user anyway).
    lines.append('findmnt -rn -o TARGET -R "$R" | tail -n +2 | while read -r m; do '
                 'm=$(printf "%b" "$m"); mount -o remount,bind,ro "$m" 2>/dev/null || '
                 'case "$m" in "$R"/proc*|"$R"/sys*) ;; *) echo "cannot make $m read-only" >&2; exit 1;; esac; done')
    # The interpreter's prefix, where an ancestor is closed to others (pyenv under /root).
    prefixes = {Path(sys.base_prefix).resolve(), Path(sysconfig.get_config_var("LIBDIR") or "/").resolve()}
    prefixes = {p for p in prefixes if not any(o != p and o in p.parents for o in prefixes)}
    closed = {}
    for prefix in prefixes:
        if (ancestor := _unreadable_ancestor(prefix)) is not None:
            closed.setdefault(ancestor, []).append(prefix)
    for ancestor, inside in sorted(closed.items()):
        lines.append(f'mount -t tmpfs -o mode=0755,size=1m exposed "$R"{q(str(ancestor))}')
        for prefix in inside:
            lines += [f'mkdir -p "$R"{q(str(prefix))}',
                      f'mount --bind {q(str(prefix))} "$R"{q(str(prefix))}',
                      f'mount -o remount,bind,ro "$R"{q(str(prefix))}']
        lines.append(f'mount -o remount,ro "$R"{q(str(ancestor))}')
    # The pod's volumes.
    for path, size in volumes.tmpfs.items():
        lines += [f'mkdir -p "$R"{q(path)} 2>/dev/null || test -d "$R"{q(path)}',
                  f'mount -t tmpfs -o size={size},mode=1777 emptydir "$R"{q(path)}']
    # In the image, Triton and its Python live outside the pod's volumes (/opt/tritonserver).
    # Here the venv and the project may sit under one of them (a checkout in /tmp): bind them
    # back read-only over the emptyDir, as the image's own files would be.
    for needed in image_paths():
        if any(needed == Path(v) or Path(v) in needed.parents for v in volumes.tmpfs):
            lines += [f'mkdir -p "$R"{q(str(needed))}',
                      f'mount --bind {q(str(needed))} "$R"{q(str(needed))}',
                      f'mount -o remount,bind,ro "$R"{q(str(needed))}']
    if volumes.repository_mount:
        lines += [f'mkdir -p "$R"{q(volumes.repository_mount)}',
                  f'mount --bind {q(str(repository))} "$R"{q(volumes.repository_mount)}',
                  f'mount -o remount,bind,ro "$R"{q(volumes.repository_mount)}']
    lines += [f'mkdir "$R"{BACKENDS_MOUNT}', f'mount --bind {q(str(backends))} "$R"{BACKENDS_MOUNT}',
              f'mount -o remount,bind,ro "$R"{BACKENDS_MOUNT}',
              'mount -o remount,ro,bind "$R"']
    setpriv = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
               "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    lines.append('exec chroot "$R" ' + " ".join(q(a) for a in setpriv + command))
    return "\n".join(lines) + "\n"


@dataclass
class ChartTriton:
    process: ManagedProcess
    ports: dict[str, int]
    log: Path
    args: list[str]

    @property
    def proc(self) -> subprocess.Popen:
        return self.process.proc

    @property
    def http(self) -> str:
        return f"localhost:{self.ports['http']}"

    @property
    def grpc(self) -> str:
        return f"localhost:{self.ports['grpc']}"

    @property
    def metrics_url(self) -> str:
        return f"http://localhost:{self.ports['metrics']}/metrics"

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""

    def stop(self, timeout: float = 40) -> None:
        self.process.stop(timeout)  # tritonserver and its Python stubs: one process group

    def __enter__(self) -> "ChartTriton":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _ready(http: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{http}/v2/health/ready", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def start_chart_triton(objs: list[dict], repository: Path, workdir: Path, *, sandbox: bool,
                       timeout: float = 180) -> ChartTriton:
    """Start tritonserver with the rendered Triton container's args and env; wait until ready.

    Its three ports come from the one registry (``endpoints.free_ports``: never the same port
    twice in this process); when another process took one before Triton bound it, Triton exits
    saying so (``endpoints.PORT_TAKEN``) and it is started again on new ports, twice at most."""
    from manifest_lookup import pod_spec, triton_container
    from tritonctl.endpoints import PORT_TAKEN, free_ports
    from tritonctl.server import launcher

    try:
        dist = launcher.find_distribution()
    except Exception as exc:  # noqa: BLE001 - no nvidia-pytriton here
        pytest.fail(f"no local Triton binary: {exc}")
    container, spec = triton_container(objs), pod_spec(objs)
    workdir.mkdir(parents=True, exist_ok=True)
    backends = launcher.prepare_backend_dir(workdir / "state", dist)
    env = launcher.server_env(dist, base={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    container_vars = container_env(container, objs)
    env.update(container_vars)
    if sandbox:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        volumes = pod_volumes(spec, container)
        for path in (repository, backends):  # bind sources: the pod's user reads them
            os.chmod(path, 0o755)
    for attempt in range(3):
        ports = dict(zip(("http", "grpc", "metrics"), free_ports(3)))
        if sandbox:
            args = chart_args(container, ports, env=container_vars)
            command = [str(dist.binary), *args, f"--backend-directory={BACKENDS_MOUNT}"]
            staging = workdir / "pod"
            (staging / "root").mkdir(parents=True, exist_ok=True)
            script = sandbox_script(staging=staging, volumes=volumes, repository=repository, backends=backends,
                                    uid=security["runAsUser"], gid=security["runAsGroup"], command=command)
            (staging / "sandbox.sh").write_text(script)
            argv = ["unshare", "--mount", "--propagation", "private", "bash", str(staging / "sandbox.sh")]
        else:
            args = chart_args(container, ports, repository=str(repository), env=container_vars)
            argv = [str(dist.binary), *args, f"--backend-directory={backends}"]
        log = workdir / "triton.log"
        # SIGTERM to the whole group on stop: the sandbox's unshare/bash/chroot chain and tritonserver
        process = ManagedProcess(argv, log, name="tritonserver", env=env, term_group=True, stop_timeout=40).start()
        server = ChartTriton(process, ports, log, args)
        try:
            process.wait_ready(lambda: _ready(server.http), timeout)
            return server
        except NotReady:
            pass
        server.stop()
        if server.proc.returncode not in (0, None) and PORT_TAKEN in server.log_tail() and attempt < 2:
            continue  # a port was taken between choosing it and binding it: new ports
        pytest.fail(f"Triton did not become ready with the chart's args {args} "
                    f"({'sandboxed' if sandbox else 'plain'}):\n{server.log_tail()}")
    raise AssertionError("unreachable")

