"""The repository writer: never leaves half a model where Triton can see it.

Everything is first written to a staging directory beside the repository (same filesystem,
outside the repository so a polling Triton never tries to load it), then moved into place
with rename(2): a new model directory or a new version directory appears whole or not at all.
Files inside an existing model directory (config.pbtxt, labels.txt) are replaced with
os.replace. A failed or interrupted build removes its staging directory and leaves the
repository exactly as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from tritonctl import exporters
from tritonctl.errors import RepositoryError
from tritonctl.process import pid_alive

BUILD_RECORD = "build.json"
CONFIG = "config.pbtxt"

# What Triton expects on disk; the reading side (tritonctl check, compat, the demo) uses the same
# names. Triton maps a config's platform to a backend, and loads <version>/<default file> of that
# backend unless default_model_filename says otherwise. The formats tritonctl writes declare their
# platform and file in their exporter unit (tritonctl.exporters); the other rows are Triton's.
PLATFORM_BACKEND = {
    "onnxruntime_onnx": "onnxruntime",
    "pytorch_libtorch": "pytorch",
    "tensorrt_plan": "tensorrt",
    "ensemble": "ensemble",
    "tensorflow_savedmodel": "tensorflow",
    "tensorflow_graphdef": "tensorflow",
}
BACKEND_PLATFORM: dict[str, str] = {}  # backend -> the platform tritonctl writes for it
#: backend -> the file Triton loads from a version directory when default_model_filename is unset
DEFAULT_MODEL_FILENAME = {"python": "model.py", "tensorflow": "model.savedmodel", "openvino": "model.xml"}
for _unit in exporters.UNITS.values():  # the first unit of a backend names its default file
    _backend = PLATFORM_BACKEND.get(_unit.PLATFORM)
    if _backend is not None:
        BACKEND_PLATFORM.setdefault(_backend, _unit.PLATFORM)
        DEFAULT_MODEL_FILENAME.setdefault(_backend, _unit.FILENAME)


def versions(model_dir: Path) -> list[int]:
    """Numeric version directories, ascending."""
    if not model_dir.is_dir():
        return []
    return sorted(int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit())


def read_record(version_dir: Path) -> dict | None:
    """The build record (``build.json``: fingerprint, parity report, torch version) of a version; None when absent."""
    try:
        return json.loads((version_dir / BUILD_RECORD).read_text())
    except (OSError, ValueError):  # absent, unreadable or not JSON: no record
        return None


def latest_record(model_dir: Path) -> tuple[int | None, dict | None]:
    vs = versions(model_dir)
    if not vs:
        return None, None
    return vs[-1], read_record(model_dir / str(vs[-1]))


def write_atomic(path: Path, data: str | bytes) -> bool:
    """Replace `path` with `data` via a temp file + os.replace; returns False when unchanged."""
    raw = data.encode() if isinstance(data, str) else data
    if path.exists() and path.read_bytes() == raw:
        return False
    _replace(path, lambda f: f.write(raw))
    return True


def copy_atomic(path: Path, src: Path) -> None:
    """Replace `path` with a copy of `src`, streamed (model files can be larger than memory)."""

    def fill(f) -> None:
        with open(src, "rb") as s:
            shutil.copyfileobj(s, f, 1 << 20)

    _replace(path, fill)


def _replace(path: Path, fill) -> None:
    """Write a temp file beside `path` with `fill(file)`, fsync it, then os.replace: a reader sees
    the old file or the new one, never a part; the temp file is removed if anything fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Staging:
    """A scratch directory beside the repository; removed on exit whatever happens."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.path: Path | None = None

    def __enter__(self) -> "Staging":
        parent = self.repo.resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        # Leftovers of a build that was killed (SIGKILL skips cleanup) are removed first.
        for old in parent.glob(f".{self.repo.name}.staging-*"):
            if not _staging_owner_alive(old.name):
                shutil.rmtree(old, ignore_errors=True)
        self.path = Path(tempfile.mkdtemp(dir=parent, prefix=f".{self.repo.name}.staging-{os.getpid()}-"))
        return self

    def __exit__(self, *exc) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)

    def version_dir(self, model: str, version: int) -> Path:
        d = self.path / model / str(version)
        d.mkdir(parents=True, exist_ok=True)
        return d


def _staging_owner_alive(name: str) -> bool:
    """Does the build that made staging directory ``.<repo>.staging-<pid>-<random>`` still run?"""
    try:
        pid = int(name.rsplit(".staging-", 1)[1].split("-")[0])
    except (IndexError, ValueError):
        return False
    return pid_alive(pid)


def publish(
    repo: Path,
    model: str,
    config_text: str,
    staged_version: Path | None,
    extra_files: dict[str, Path] | None = None,
) -> list[str]:
    """Move one staged version (if any) into `repo/model/`, then update config and extra files.

    Returns a list of what changed, for the report.
    """
    changes: list[str] = []
    model_dir = repo / model
    extra_files = extra_files or {}
    repo.mkdir(parents=True, exist_ok=True)
    if not model_dir.exists():
        if staged_version is None:
            raise RepositoryError(f"{model_dir}: a new model needs a version; rebuild with tritonctl build")
        # A new model: assemble it whole in staging and move the directory in one rename.
        staged_model = staged_version.parent
        (staged_model / CONFIG).write_text(config_text)
        for name, src in extra_files.items():
            shutil.copyfile(src, staged_model / name)
        _rename(staged_model, model_dir)
        return [f"new model, version {staged_version.name}"]
    if staged_version is not None:
        target = model_dir / staged_version.name
        if target.exists():
            raise RepositoryError(f"{target} already exists; remove it or rebuild (versions are never overwritten)")
        _rename(staged_version, target)
        changes.append(f"new version {staged_version.name}")
    for name, src in extra_files.items():
        if write_atomic(model_dir / name, Path(src).read_bytes()):
            changes.append(f"{name} updated")
    if write_atomic(model_dir / CONFIG, config_text):
        changes.append("config updated")
    return changes


def _rename(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except OSError as exc:
        raise RepositoryError(f"could not move {src} to {dst}: {exc}; is the repository on the same filesystem?") from exc


def prune(model_dir: Path, keep_latest: int | None) -> list[int]:
    """Remove the oldest versions beyond the policy's `latest: N`; returns removed versions."""
    if keep_latest is None:
        return []
    vs = versions(model_dir)
    doomed = vs[:-keep_latest] if len(vs) > keep_latest else []
    for v in doomed:
        # Rename first so the version vanishes at once, then delete at leisure.
        tomb = model_dir.parent.parent / f".{model_dir.name}.{v}.removed-{os.getpid()}"
        os.rename(model_dir / str(v), tomb)
        shutil.rmtree(tomb, ignore_errors=True)
    return doomed
