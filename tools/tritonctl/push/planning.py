"""What `tritonctl push` would do, read off the local repository and DEST; nothing is written.

``plan`` compares the local tree (``manifest.scan``) with DEST's manifest and objects and returns a
``PushPlan``: per model (``ModelPushPlan``) the files to upload in a safe order (version files first,
model files last within a version, config.pbtxt last), the *pinned* config a new version needs
while it uploads, leftovers of an interrupted push, versions to retire and, with ``--prune``, the
objects to delete. It refuses a DEST that is someone else's layout (no manifest; ``adopt`` hashes a
hand-uploaded repository into one instead) and a version that differs from the one already pushed.
``publishing.push`` carries a plan out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tritonctl.errors import StorageError
from tritonctl.push import manifest as mf
from tritonctl.storage.location import Location
from tritonctl.storage.store import Store

# Files Triton loads a model from: uploaded last in a version directory, so that a version seen
# by a poll is either without its model file (refused) or complete.
_MODEL_FILE_STEMS = ("model",)


def size_text(n: int) -> str:
    """A size for messages: kB below 100 kB, MB from there."""
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


@dataclass
class ModelPushPlan:
    """What a push does to one model: its part of a ``PushPlan``."""

    name: str
    status: str  # "new", "update", "unchanged", "removed"
    is_ensemble: bool = False
    new_versions: list[int] = field(default_factory=list)
    uploads: list[mf.LocalFile] = field(default_factory=list)  # in upload order, config.pbtxt last
    pin: str | None = None  # pinned config text to write first, or None
    pinned_versions: list[int] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # rels at DEST from an interrupted push
    retire: list[int] = field(default_factory=list)  # versions leaving the repository (kept)
    prune: list[str] = field(default_factory=list)  # rels to delete at the end (--prune)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.uploads)

    def describe(self) -> str:
        if self.status == "unchanged" and not (self.prune or self.retire or self.leftovers):
            return "unchanged"
        if self.status == "removed":
            return f"not in the repository: delete {len(self.prune)} object(s)" if self.prune else "not in the repository: kept (--prune deletes it)"
        bits = []
        if self.status == "new":
            bits.append(f"new model: {len(self.uploads)} file(s), {size_text(self.bytes)}")
        elif self.uploads:
            if self.new_versions:
                bits.append(f"new version {', '.join(map(str, self.new_versions))}")
            rest = [f.rel.split("/", 1)[1] for f in self.uploads if f.version not in self.new_versions]
            if rest:
                bits.append("update " + ", ".join(rest))
            bits.append(f"{len(self.uploads)} file(s), {size_text(self.bytes)}")
        if self.pin:
            bits.append(f"config pinned to v{','.join(map(str, self.pinned_versions))} while the new version uploads")
        if self.leftovers:
            bits.append(f"remove {len(self.leftovers)} leftover object(s) of an interrupted push")
        if self.retire:
            bits.append(f"retire v{','.join(map(str, self.retire))} (kept until a later push --prune)")
        if self.prune:
            bits.append(f"prune {len(self.prune)} object(s) of versions retired earlier")
        return "; ".join(bits)


@dataclass
class PushPlan:
    source: Path
    location: Location
    models: list[ModelPushPlan]
    manifest: dict
    dest_has_manifest: bool
    unchanged_files: int = 0
    unchanged_bytes: int = 0
    foreign: list[str] = field(default_factory=list)  # objects at DEST that are not ours (left alone)
    adopted: int = 0  # objects at DEST without a manifest, hashed into it (--adopt)

    @property
    def uploads(self) -> list[mf.LocalFile]:
        return [f for m in self.models for f in m.uploads]

    @property
    def deletes(self) -> list[str]:
        return [r for m in self.models for r in m.leftovers + m.prune]

    @property
    def up_to_date(self) -> bool:
        return not (self.uploads or self.deletes or self.adopted or any(m.retire or m.pin for m in self.models))

    def to_text(self) -> str:
        loc = self.location
        lines = [f"push {self.source} -> {loc}", f"  {loc.describe()}"]
        if self.adopted:
            lines.append(f"  adopt {self.adopted} object(s) already at DEST: hashed and recorded in {mf.MANIFEST}, "
                         "not uploaded again")
        width = max((len(m.name) for m in self.models), default=5)
        for m in self.models:
            lines.append(f"  {m.name:<{width}}  {m.describe()}")
        if self.foreign:
            lines.append(f"  left alone: {len(self.foreign)} object(s) not written by tritonctl push (e.g. {self.foreign[0]})")
        up = self.uploads
        pins = sum(1 for m in self.models if m.pin)
        lines.append(
            f"plan: upload {len(up)} file(s) ({size_text(sum(f.size for f in up))}), {pins} pinned config(s), "
            f"delete {len(self.deletes)} object(s); {self.unchanged_files} file(s) ({size_text(self.unchanged_bytes)}) unchanged"
        )
        return "\n".join(lines)


def plan(repository: str | Path, dest: Location, store: Store | None = None, prune: bool = False,
         adopt: bool = False) -> PushPlan:
    """What a push would do; reads DEST, writes nothing. ``adopt``: DEST holds a repository without a
    manifest (uploaded by hand); hash its objects into the manifest instead of refusing it."""
    store = store or Store(dest)
    local = mf.scan(Path(repository))
    store.check_bucket()
    remote = store.list()
    has_manifest = mf.MANIFEST in remote
    adopted = 0
    if has_manifest:
        manifest = mf.parse(store.read(mf.MANIFEST), str(dest))
    else:
        others = sorted(r for r in remote if not r.startswith("."))
        manifest = mf.empty(str(repository))
        if others and not adopt:
            raise StorageError(
                f"{dest} already holds {len(others)} object(s) (e.g. {others[0]}) but no {mf.MANIFEST}: it was not "
                "written by tritonctl push, and pushing would mix two repositories. If it is a model repository "
                "you uploaded yourself (aws s3 sync, gsutil rsync, azcopy), `tritonctl push --adopt` hashes what is "
                f"there into {mf.MANIFEST} and uploads only what differs (a version that differs from the local "
                "one is refused); otherwise push to an empty prefix or move those objects away; nothing was changed"
            )
        if others:
            manifest["files"] = _adopt(store, remote)
            adopted = len(manifest["files"])
    # What is really at DEST: a manifest entry whose object is gone or has another size is not trusted.
    known = {rel: e for rel, e in manifest["files"].items() if remote.get(rel) == e.get("size")}
    manifest["files"] = files = dict(known)
    local_models = sorted({f.model for f in local.values()})
    dest_models = sorted({rel.split("/", 1)[0] for rel in files})
    ensembles = {m for m in local_models if _is_ensemble(local[f"{m}/{mf.CONFIG}"].path)}

    plans: list[ModelPushPlan] = []
    unchanged_files = unchanged_bytes = 0
    for name in local_models:
        mine = {rel: f for rel, f in local.items() if f.model == name}
        theirs = {rel: e for rel, e in known.items() if rel.split("/", 1)[0] == name}
        live = mf.versions_of(theirs, name)
        p = ModelPushPlan(name, "new" if not theirs else "update", is_ensemble=name in ensembles)
        _refuse_changed_versions(name, mine, theirs, live, dest)
        changed = [f for rel, f in mine.items() if theirs.get(rel, {}).get("sha256") != f.sha256]
        for f in mine.values():
            if f not in changed:
                unchanged_files += 1
                unchanged_bytes += f.size
        p.new_versions = sorted({f.version for f in changed if f.version is not None} - live)
        p.uploads = sorted(changed, key=_upload_order)
        if not p.uploads and p.status == "update":
            p.status = "unchanged"
        # objects at DEST under this model that no manifest names and no local file will overwrite
        p.leftovers = sorted(r for r in remote if r.split("/", 1)[0] == name and r not in files and r not in mine)
        local_versions = {f.version for f in mine.values() if f.version is not None}
        retired_before = set(manifest["retired"].get(name, []))
        p.retire = sorted(live - local_versions - retired_before)
        if prune:
            doomed = (live & retired_before) - local_versions
            p.prune = sorted(r for r in theirs if mf.version_of(r) in doomed)
        if p.new_versions and p.status == "update" and not dest.is_local:
            cfg = f"{name}/{mf.CONFIG}"
            if cfg in theirs:
                p.pin, p.pinned_versions = _pinned_config(store.read(cfg), live, set(p.new_versions), f"{dest}/{cfg}")
            if p.pin and mine[cfg] not in p.uploads:
                p.uploads.append(mine[cfg])  # the real config replaces the pin, last
        plans.append(p)
    for name in dest_models:
        if name in local_models:
            continue
        p = ModelPushPlan(name, "removed")
        if prune:
            p.prune = sorted(r for r in remote if r.split("/", 1)[0] == name)
        plans.append(p)
    ours = {r.split("/", 1)[0] for r in files} | set(local_models)
    foreign = sorted(r for r in remote if r != mf.MANIFEST and r.split("/", 1)[0] not in ours)
    # step models before the ensembles that call them; removed models last
    plans.sort(key=lambda m: (m.status == "removed", m.is_ensemble, m.name))
    return PushPlan(Path(repository), dest, plans, manifest, has_manifest, unchanged_files, unchanged_bytes, foreign,
                    adopted)


def _adopt(store: Store, remote: dict[str, int]) -> dict[str, dict]:
    """Manifest entries for the objects of a repository uploaded by hand: every object inside a model
    directory (hidden paths, a staging leftover or an editor file, and files at DEST's root are not
    a model's: they stay foreign), hashed from its content, since an ETag is not a sha256."""
    def is_model_object(rel: str) -> bool:
        parts = rel.split("/")
        return len(parts) > 1 and not any(p.startswith(".") or p == "__pycache__" for p in parts)

    return {rel: {"sha256": store.sha256(rel), "size": size} for rel, size in sorted(remote.items())
            if is_model_object(rel)}


def _upload_order(f: mf.LocalFile):
    """Version files first (model files last within a version), then files beside the config,
    config.pbtxt last: the file that makes Triton look arrives when everything it points at is there."""
    name = f.rel.rsplit("/", 1)[-1]
    if f.version is not None:
        return (0, f.version, name.split(".")[0] in _MODEL_FILE_STEMS, f.rel)
    return (1 if name != mf.CONFIG else 2, 0, False, f.rel)


def _is_ensemble(config_path: Path) -> bool:
    from tritonctl import config

    try:
        cfg = config.read_config(config_path)
    except config.ConfigParseError as exc:
        raise StorageError(f"{config_path}: not a valid config.pbtxt ({exc.reason}); run `tritonctl check` on the repository") from None
    return cfg.platform == "ensemble"


def _refuse_changed_versions(name: str, mine: dict, theirs: dict, live: set[int], dest: Location) -> None:
    """A version already at DEST is immutable: a polling Triton may be serving it."""
    for v in sorted(live):
        prefix = f"{name}/{v}/"
        a = {r: f.sha256 for r, f in mine.items() if r.startswith(prefix)}
        b = {r: e.get("sha256") for r, e in theirs.items() if r.startswith(prefix)}
        if a and a != b:
            differ = sorted(r.split("/", 2)[2] for r in set(a) | set(b) if a.get(r) != b.get(r))
            raise StorageError(
                f"model '{name}' version {v} at {dest} differs from the local one ({', '.join(differ[:3])}); versions "
                "are immutable once pushed, a running Triton may be serving it. Build a new version into a repository "
                f"that holds version {v} (tritonctl build numbers versions after the newest one), or push to another "
                "prefix; nothing was changed"
            )


def _pinned_config(raw: bytes, live: set[int], new: set[int], where: str = "config.pbtxt") -> tuple[str | None, list[int]]:
    """The live config pinned to the versions it serves now, if its policy would pick a new one.
    A live config that does not parse raises ConfigParseError naming `where`."""
    from google.protobuf import text_format

    from tritonctl import config

    cfg = config.parse(raw.decode(), where)
    now, after = set(config.policy_selects(cfg, live)), set(config.policy_selects(cfg, live | new))
    if now == after or not now:
        return None, []
    cfg.version_policy.Clear()
    cfg.version_policy.specific.versions.extend(sorted(now))
    return text_format.MessageToString(cfg), sorted(now)
