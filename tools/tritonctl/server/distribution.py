"""The tritonserver distribution: where the nvidia-pytriton wheel keeps Triton, and the backend directory.

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

import os
import shutil
import site
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from tritonctl.errors import ServeError

#: the CPU backends tritonctl ships (``tritonctl/backends/<name>/model.py``)
BACKENDS = ("onnxruntime", "pytorch")


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
