"""Carrying out a push plan in the order that keeps a Triton polling DEST safe while it runs.

1. DEST is marked as ours (the manifest) before anything else is written; a non-empty DEST
   without a manifest is someone else's layout and was refused by the plan, unless ``adopt`` said
   it is a repository the user uploaded by hand (``aws s3 sync``): then every object under a model
   directory was hashed into the manifest first, as if a push had written it, and the push goes on
   incrementally from there.
2. A model that gets a new version, and whose live config would pick that version up as soon as
   its first file appears (``latest`` / ``all``), first gets a *pinned* config: the same config
   with ``version_policy { specific { versions: [what it serves now] } }``. Triton reloads the
   same versions (without losing availability) and ignores the new directory while it fills.
3. The new version's files are uploaded, model files last; leftovers of an interrupted push that
   are not in the local repository are deleted before any config could select them.
4. Then the model's other files (labels) and its real config.pbtxt: only now can Triton look at
   the new version, and it finds it complete. Step models go before the ensembles that use them.
5. The manifest is rewritten after each model, so an interrupted push resumes where it stopped
   and DEST always loads as it was or as it will be.

Nothing a running server may serve is deleted: versions that leave the repository are *retired*
(kept, recorded in the manifest); ``--prune`` deletes versions retired by an earlier push (their
successor has been live since), and models no longer in the repository.
A directory DEST skips the pin: new model and version directories are renamed into place whole.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from tritonctl.push import manifest as mf
from tritonctl.push.planning import ModelPushPlan, PushPlan, plan, size_text
from tritonctl.storage.location import Location, parse
from tritonctl.storage.store import Store

log = logging.getLogger("tritonctl.push")


@dataclass
class PushResult:
    plan: PushPlan
    uploaded_files: int = 0
    uploaded_bytes: int = 0
    deleted: int = 0
    seconds: float = 0.0

    def to_text(self) -> str:
        p, loc = self.plan, self.plan.location
        if p.up_to_date:
            return (
                f"{loc} is up to date: nothing uploaded ({p.unchanged_files} file(s), {size_text(p.unchanged_bytes)} "
                f"unchanged against its manifest, {self.seconds:.1f}s)\nTriton reads it as --model-repository={loc.triton_url}"
            )
        adopted = f"{p.adopted} object(s) already there adopted, " if p.adopted else ""
        return (
            f"pushed {p.source} -> {loc}: {adopted}{self.uploaded_files} file(s) ({size_text(self.uploaded_bytes)}) uploaded, "
            f"{self.deleted} object(s) deleted, {p.unchanged_files} unchanged, in {self.seconds:.1f}s\n"
            f"Triton reads it as --model-repository={loc.triton_url}"
        )


def push(
    repository: str | Path,
    dest: str | Location,
    endpoint_url: str | None = None,
    profile: str | None = None,
    prune: bool = False,
    dry_run: bool = False,
    progress=None,
    adopt: bool = False,
) -> PushResult:
    start = time.monotonic()
    loc = dest if isinstance(dest, Location) else parse(str(dest), endpoint_url=endpoint_url, profile=profile)
    store = Store(loc)
    p = plan(repository, loc, store, prune=prune, adopt=adopt)
    result = PushResult(p)
    if dry_run or p.up_to_date:
        result.seconds = time.monotonic() - start
        return result
    progress = progress or (lambda msg: log.debug(msg))
    man = p.manifest
    files = man["files"]

    def commit() -> None:
        store.write_bytes(mf.MANIFEST, mf.dump(man))

    if not p.dest_has_manifest:
        commit()  # DEST is ours from the first object on: a resumed push is not "foreign"
    # leftovers go before any config could select them; pins before any new version file
    for m in p.models:
        if m.leftovers:
            store.delete(m.leftovers)
            result.deleted += len(m.leftovers)
    pinned = [m for m in p.models if m.pin]
    for m in pinned:
        progress(f"{m.name}: pin config to v{m.pinned_versions}")
        data = m.pin.encode()
        store.write_bytes(f"{m.name}/{mf.CONFIG}", data)
        files[f"{m.name}/{mf.CONFIG}"] = {"sha256": mf.sha256_bytes(data), "size": len(data)}
    if pinned:
        commit()
    for m in p.models:
        if not m.uploads:
            continue
        done: list[str] = []
        try:
            _upload_model(store, m, progress, done)
        except BaseException:
            if m.status == "new" and not loc.is_local:
                _remove_quietly(store, done)  # nothing serves a half-uploaded new model: take it back
            raise
        for f in m.uploads:
            files[f.rel] = {"sha256": f.sha256, "size": f.size}
            result.uploaded_files += 1
            result.uploaded_bytes += f.size
        commit()
    retired = man["retired"]
    for m in p.models:
        if m.retire:
            retired[m.name] = sorted(set(retired.get(m.name, [])) | set(m.retire))
        if m.prune:
            store.delete(m.prune)
            result.deleted += len(m.prune)
            for rel in m.prune:
                files.pop(rel, None)
            gone = {mf.version_of(r) for r in m.prune}
            left = [v for v in retired.get(m.name, []) if v not in gone]
            if left and m.status != "removed":
                retired[m.name] = left
            else:
                retired.pop(m.name, None)
    commit()
    result.seconds = time.monotonic() - start
    return result


def _upload_model(store: Store, m: ModelPushPlan, progress, done: list[str]) -> None:
    by_version: dict[int, list[mf.LocalFile]] = {}
    for f in m.uploads:
        if f.version in m.new_versions:
            by_version.setdefault(f.version, []).append(f)
    if m.status == "new":
        progress(f"{m.name}: new model")
        if store.upload_dir_atomically(m.name, [(f.rel, f.path) for f in m.uploads]):
            return
    for v, group in by_version.items():
        progress(f"{m.name}: version {v}")
        if store.upload_dir_atomically(f"{m.name}/{v}", [(f.rel, f.path) for f in group]):
            done += [f.rel for f in group]
    for f in m.uploads:
        if f.rel in done:
            continue
        progress(f"{m.name}: {f.rel}")
        store.upload(f.rel, f.path)
        done.append(f.rel)


def _remove_quietly(store: Store, rels: list[str]) -> None:
    try:
        store.delete(rels)
    except Exception as exc:  # the original error matters more; the next push removes leftovers
        log.warning("could not remove the partial upload (%s); the next push removes it", exc)
