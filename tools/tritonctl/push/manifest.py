"""The content of a repository as hashes: the local tree, and the manifest kept at DEST.

The manifest (``tritonctl-push.json`` at DEST's root, a file: Triton only treats
sub-directories of a repository as models) records the sha256 and size of every object a push
wrote, and when versions were retired. It is the commit record of a push: rewritten after each
model is complete, so an interrupted push is resumed, never trusted half-way.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from tritonctl.errors import RepositoryError, StorageError
from tritonctl.repository import CONFIG  # Triton's config file name, as the repository writer names it

MANIFEST = "tritonctl-push.json"
FORMAT = 1


@dataclass(frozen=True)
class LocalFile:
    rel: str  # "digits/1/model.onnx"
    path: Path
    sha256: str
    size: int

    @property
    def model(self) -> str:
        return self.rel.split("/", 1)[0]

    @property
    def version(self) -> int | None:
        """The version directory the file is in, None for files beside config.pbtxt."""
        return version_of(self.rel)


def version_of(rel: str) -> int | None:
    """The version of a file at DEST or in the repository (digits/2/model.onnx -> 2); None for a
    file beside config.pbtxt (digits/labels.txt)."""
    parts = rel.split("/")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else None


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def scan(repo: Path) -> dict[str, LocalFile]:
    """Every file of a local model repository, hashed. Hidden files (editor and staging leftovers)
    and __pycache__ are not part of a model and are skipped."""
    repo = Path(repo)
    if not repo.is_dir():
        raise RepositoryError(f"model repository '{repo}' does not exist; build it with `tritonctl build models.yaml`")
    files: dict[str, LocalFile] = {}
    models = [p for p in sorted(repo.iterdir()) if not p.name.startswith(".")]
    for model_dir in models:
        if not model_dir.is_dir():
            raise RepositoryError(
                f"{model_dir}: a model repository holds only model directories; move this file out of {repo}"
            )
        if not (model_dir / CONFIG).is_file():
            raise RepositoryError(
                f"{model_dir}: no {CONFIG}; every model directory needs one (tritonctl build writes it)"
            )
        for path in sorted(model_dir.rglob("*")):
            rel_parts = path.relative_to(repo).parts
            if not path.is_file() or any(p.startswith(".") or p == "__pycache__" for p in rel_parts):
                continue
            rel = "/".join(rel_parts)
            files[rel] = LocalFile(rel, path, sha256_file(path), path.stat().st_size)
    if not files:
        raise RepositoryError(f"model repository '{repo}' holds no models; build it with `tritonctl build models.yaml`")
    return files


def empty(source: str) -> dict:
    return {"tool": "tritonctl", "format": FORMAT, "source": source, "pushed_at": None, "files": {}, "retired": {}}


def parse(raw: bytes, where: str) -> dict:
    """A manifest read from DEST; a file of another tool or version is refused, not overwritten."""
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StorageError(
            f"{where}/{MANIFEST} is not JSON ({exc}); it was not written by tritonctl push. "
            "Push to an empty prefix, or remove that file if you know DEST is yours"
        ) from None
    if not isinstance(data, dict) or data.get("tool") != "tritonctl" or not isinstance(data.get("files"), dict):
        raise StorageError(f"{where}/{MANIFEST} is not a tritonctl push manifest; push to an empty prefix")
    if data.get("format") != FORMAT:
        raise StorageError(
            f"{where}/{MANIFEST} has format {data.get('format')}, this tritonctl writes {FORMAT}; "
            "push with the tritonctl version that wrote it, or to an empty prefix"
        )
    data.setdefault("retired", {})
    return data


def dump(manifest: dict) -> bytes:
    manifest["pushed_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()


def versions_of(rels, model: str) -> set[int]:
    return {v for rel in rels if rel.split("/", 1)[0] == model and (v := version_of(rel)) is not None}
