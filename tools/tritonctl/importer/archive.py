"""TorchServe model archives: a `.mar` (a zip with MAR-INF/MANIFEST.json), an extracted archive
directory, or a model store (a directory of `.mar` files), read without running any of their code.

torch-model-archiver writes every file flat at the archive's root (the handler, `--model-file`,
`--serialized-file`, `--extra-files`, `requirements.txt`, the `--config-file` yaml) and the
manifest names them; TorchServe extracts the archive and runs the handler with that directory
as its working directory and first import path. We extract it the same way.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tritonctl.errors import TritonctlError

MANIFEST = "MAR-INF/MANIFEST.json"
# Handlers that ship inside TorchServe (ts.torch_handler.<name>), as torch-model-archiver accepts them.
BUILTIN_HANDLERS = ("image_classifier", "image_segmenter", "object_detector", "text_classifier")


class ArchiveError(TritonctlError):
    """An archive (or its settings) cannot be imported: names the archive and the fix."""

    exit_code = 2


@dataclass
class Archive:
    path: Path  # the .mar or directory the user named
    root: Path  # the extracted directory (the handler's model_dir)
    manifest: dict
    yaml_config: dict = field(default_factory=dict)

    @property
    def model(self) -> dict:
        return self.manifest.get("model", {})

    @property
    def name(self) -> str:
        return self.model.get("modelName") or self.path.stem

    @property
    def version(self) -> str:
        return str(self.model.get("modelVersion", "1.0"))

    @property
    def handler(self) -> str:
        return self.model["handler"]

    @property
    def builtin_handler(self) -> str | None:
        return self.handler if self.handler in BUILTIN_HANDLERS else None

    @property
    def model_file(self) -> str | None:
        return self.model.get("modelFile") or None

    @property
    def serialized_file(self) -> str | None:
        return self.model.get("serializedFile") or None

    @property
    def handler_file(self) -> str | None:
        """The handler's module file inside the archive (None for a built-in handler)."""
        module = self.handler.split(":", 1)[0]
        module = module[:-3] if module.endswith(".py") else module
        candidate = self.root / (module.split("/")[-1] + ".py")
        return candidate.name if candidate.is_file() else None

    @property
    def requirements(self) -> Path | None:
        req = self.model.get("requirementsFile")
        path = self.root / req if req else None
        return path if path is not None and path.is_file() else None

    def files(self) -> list[str]:
        """Every file of the archive, relative to its root (MAR-INF included)."""
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())


def _fail(path: Path, problem: str, fix: str) -> ArchiveError:
    return ArchiveError(f"{path}: {problem}; {fix}")


def _read_manifest(path: Path, root: Path) -> dict:
    mf = root / MANIFEST
    if not mf.is_file():
        raise _fail(path, f"no {MANIFEST}: not a TorchServe model archive",
                    "make it with torch-model-archiver --model-name NAME --handler HANDLER ...")
    try:
        manifest = json.loads(mf.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(path, f"{MANIFEST} is not valid JSON ({exc})", "re-create the archive with torch-model-archiver") from None
    model = manifest.get("model") if isinstance(manifest, dict) else None
    if not isinstance(model, dict):
        raise _fail(path, f"{MANIFEST} has no `model` section", "re-create the archive with torch-model-archiver")
    if not model.get("handler"):
        raise _fail(path, f"{MANIFEST} names no handler (model.handler)",
                    "re-create the archive with torch-model-archiver --handler my_handler.py (or a built-in: "
                    + ", ".join(BUILTIN_HANDLERS) + ")")
    for key in ("modelFile", "serializedFile"):
        name = model.get(key)
        if name and not (root / name).is_file():
            raise _fail(path, f"{MANIFEST} names {key} '{name}' but the archive does not hold it",
                        "re-create the archive with that file")
    return manifest


def open_archive(path: str | Path, workdir: Path) -> Archive:
    """Extract (or copy) one archive into `workdir` and read its manifest and model-config.yaml."""
    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file or directory", "pass a .mar file, an extracted archive or a model store directory")
    root = workdir
    if path.is_dir():
        shutil.copytree(path, root, dirs_exist_ok=True)
    else:
        try:
            with zipfile.ZipFile(path) as zf:
                bad = zf.testzip()
                if bad is not None:
                    raise _fail(path, f"the archive's entry {bad} is corrupt (CRC mismatch)", "re-create the archive")
                for info in zf.infolist():
                    target = (root / info.filename).resolve()
                    if not str(target).startswith(str(root.resolve())):
                        raise _fail(path, f"entry {info.filename} points outside the archive", "re-create the archive")
                zf.extractall(root)
        except zipfile.BadZipFile as exc:
            raise _fail(path, f"not a readable zip archive ({exc})",
                        "a .mar is a zip made by torch-model-archiver; re-create it, or pass the extracted directory") from None
        except (OSError, EOFError, zipfile.LargeZipFile) as exc:
            raise _fail(path, f"the archive cannot be read ({exc})", "re-create the archive") from None
    manifest = _read_manifest(path, root)
    archive = Archive(path=path, root=root, manifest=manifest)
    cfg = manifest["model"].get("configFile")
    if cfg:
        try:
            archive.yaml_config = yaml.safe_load((root / cfg).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise _fail(path, f"its config file {cfg} does not parse ({exc})", "fix the yaml and re-create the archive") from None
    return archive


def archives_in(path: str | Path) -> list[Path]:
    """A .mar or an extracted archive -> [it]; a model store (a directory of .mar files) -> its archives."""
    path = Path(path)
    if path.is_dir() and not (path / MANIFEST).exists():
        found = sorted(p for p in path.iterdir() if p.suffix == ".mar" or (p / MANIFEST).exists())
        if not found:
            raise _fail(path, "holds neither MAR-INF/MANIFEST.json nor any .mar archive",
                        "pass a .mar file, an extracted archive or a TorchServe model store")
        return found
    return [path]
