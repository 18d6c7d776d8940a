"""Reading and writing objects at a Location, with errors that say where and with which credentials.

Object stores write one object at a time; a directory can do better: a new model or version
directory is assembled in a staging directory beside DEST and renamed into place, so it
appears whole (the same rule as `tritonctl build`'s repository writer).
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from tritonctl import repository
from tritonctl.errors import StorageError
from tritonctl.storage.location import Location


class Store:
    def __init__(self, loc: Location):
        self.loc = loc
        self.fs = loc.filesystem()

    # -- errors --------------------------------------------------------------------------------
    @contextmanager
    def errors(self, action: str):
        """Turn fsspec / botocore / cloud SDK exceptions into one StorageError naming the place."""
        try:
            yield
        except StorageError:
            raise
        except FileNotFoundError as exc:
            if self.loc.is_local:
                raise StorageError(f"{action}: {exc}") from None
            raise StorageError(
                f"{action}: {self._missing(exc)} ({self.loc.describe()}); create it or fix the URL"
            ) from None
        except PermissionError as exc:
            raise StorageError(
                f"{action}: access denied to {self.loc.describe()}: {exc}. Check those credentials "
                "and that they may list, read, write and delete under this prefix"
            ) from None
        except Exception as exc:  # botocore, aiohttp, google-auth, azure-core: each its own root type
            name = type(exc).__name__
            if "Connect" in name or "Endpoint" in name or isinstance(exc, (ConnectionError, TimeoutError)):
                raise StorageError(
                    f"{action}: cannot reach {self.loc.describe()}: {exc}. Is the endpoint right and "
                    "reachable from here?"
                ) from None
            if "Credential" in name or "Auth" in name or "Token" in name:
                raise StorageError(f"{action}: no usable credentials for {self.loc.describe()}: {exc}") from None
            raise StorageError(f"{action}: {name}: {exc} ({self.loc.describe()})") from None

    def _missing(self, exc: Exception) -> str:
        text = str(exc)
        if "bucket" in text.lower() or "container" in text.lower():
            return f"the {self.loc.bucket_kind} '{self.loc.bucket}' does not exist"
        return f"not found: {text}"

    # -- reading -------------------------------------------------------------------------------
    def check_bucket(self) -> None:
        """Fail early, with the bucket's name, when it is missing or not ours to read."""
        if self.loc.is_local:
            parent = Path(self.loc.path).parent
            if not parent.is_dir():
                raise StorageError(f"{self.loc.path}: its parent directory {parent} does not exist; create it first")
            return
        with self.errors(f"checking {self.loc}"):
            try:
                if self.loc.scheme == "s3":
                    self.fs.call_s3("head_bucket", Bucket=self.loc.bucket)
                    return
                found = self.fs.exists(self.loc.bucket)
            except FileNotFoundError:
                found = False
            if not found:
                raise StorageError(
                    f"{self.loc}: the {self.loc.bucket_kind} '{self.loc.bucket}' does not exist ({self.loc.describe()}); "
                    "create it or fix the URL; nothing was changed"
                )

    def check_bucket_and_list(self) -> dict[str, int]:
        self.check_bucket()
        return self.list()

    def list(self) -> dict[str, int]:
        """rel path -> size of every object under DEST."""
        root = self.loc.root.rstrip("/")
        if self.loc.is_local and not Path(root).exists():
            return {}
        with self.errors(f"listing {self.loc}"):
            found = self.fs.find(root, detail=True, withdirs=False)
        out = {}
        for name, info in found.items():
            name = name.rstrip("/")
            if name.startswith(root + "/"):
                out[name[len(root) + 1:]] = int(info.get("size") or 0)
        return out

    def read(self, rel: str) -> bytes:
        with self.errors(f"reading {self.loc}/{rel}"):
            return self.fs.cat_file(self.loc.join(rel))

    def sha256(self, rel: str) -> str:
        """sha256 of an object's content, streamed (model files are large)."""
        import hashlib

        h = hashlib.sha256()
        with self.errors(f"reading {self.loc}/{rel}"), self.fs.open(self.loc.join(rel), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()

    # -- writing -------------------------------------------------------------------------------
    def write_bytes(self, rel: str, data: bytes) -> None:
        if self.loc.is_local:
            repository.write_atomic(Path(self.loc.join(rel)), data)
            return
        with self.errors(f"writing {self.loc}/{rel}"):
            self.fs.pipe_file(self.loc.join(rel), data)

    def upload(self, rel: str, src: Path) -> None:
        if self.loc.is_local:
            repository.copy_atomic(Path(self.loc.join(rel)), src)
            return
        with self.errors(f"uploading {src} to {self.loc}/{rel}"):
            self.fs.put_file(str(src), self.loc.join(rel))

    def delete(self, rels: list[str]) -> None:
        if not rels:
            return
        if self.loc.is_local:
            for rel in rels:
                Path(self.loc.join(rel)).unlink(missing_ok=True)
            self._local_prune_empty_dirs()
            return
        with self.errors(f"deleting {len(rels)} object(s) under {self.loc}"):
            self.fs.rm([self.loc.join(r) for r in rels])

    def upload_dir_atomically(self, rel_dir: str, files: list[tuple[str, Path]]) -> bool:
        """A directory DEST: assemble `rel_dir` (absent at DEST) in staging and rename it into place.
        Returns False for an object store (the caller orders single uploads instead)."""
        if not self.loc.is_local:
            return False
        root = Path(self.loc.path)
        target = root / rel_dir
        if target.exists():
            return False
        # The build's staging directory: beside DEST, removed on exit, leftovers of a killed run cleared.
        with repository.Staging(root) as staging:
            for rel, src in files:
                dst = staging.path / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging.path / rel_dir, target)
        return True

    def _local_prune_empty_dirs(self) -> None:
        root = Path(self.loc.path)
        for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass
