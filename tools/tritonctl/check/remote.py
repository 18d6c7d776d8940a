"""`tritonctl check s3://...`: lint a repository where Triton reads it, exactly as it is there.

The objects are downloaded into a temporary directory (what Triton itself does before loading a
cloud repository) and checked by the same rules as a local one; findings name the remote paths.
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from tritonctl.check import check_repository
from tritonctl.push.manifest import MANIFEST
from tritonctl.storage.location import parse
from tritonctl.storage.store import Store


def check_remote(url: str, spec=None, release=None):
    loc = parse(url)
    store = Store(loc)
    objects = store.check_bucket_and_list()
    with tempfile.TemporaryDirectory(prefix="tritonctl-check-") as tmp:
        local = Path(tmp) / "repository"
        local.mkdir()
        wanted = [rel for rel in objects if rel != MANIFEST]
        with store.errors(f"downloading {loc}"):
            if wanted:
                store.fs.get([loc.join(rel) for rel in wanted], [str(local / rel) for rel in wanted])
        report = check_repository(local, spec=spec, release=release)
    prefix = str(local)
    report.repository = str(loc)
    report.findings = [dataclasses.replace(f, file=f.file.replace(prefix, str(loc), 1)) for f in report.findings]
    return report
