"""A tune winner written back, then `tritonctl build`: settings that only the config carries must
not export a new version; settings the artifact depends on must."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tritonctl import build, repository, spec as spec_mod  # noqa: E402
from tritonctl.tune import writeback  # noqa: E402
from tritonctl.tune.candidates import Candidate  # noqa: E402

from buildkit import LINEAR, make_project, tree_digest  # noqa: E402


def _write_winner(spec_path: Path, cand: Candidate) -> None:
    """What `tritonctl tune --write` does with a winner: models.yaml, then the repository's configs."""
    _, new, patched = writeback.plan_models_yaml(spec_path, "lin", cand)
    repository.write_atomic(spec_path, new)
    writeback.write_repository(patched.resolve(patched.repository), writeback.repository_configs(patched, "lin"))


def test_a_tuned_max_batch_size_keeps_the_exported_versions(tmp_path):
    path, _ = make_project(tmp_path)  # lin: onnx + torchscript, max_batch_size 4
    build.build(spec_mod.load(path))
    repo = tmp_path / "repo"
    artifacts = {p: d for p, d in tree_digest(repo).items() if "/1/" in p}

    _write_winner(path, Candidate("onnx", 8, (4, 8), 100, 1))
    items = build.build(spec_mod.load(path))

    assert repository.versions(repo / "lin") == [1] and repository.versions(repo / "lin_torchscript") == [1]
    assert all(i.version is None for i in items), [(i.name, i.reason) for i in items]
    assert {p: d for p, d in tree_digest(repo).items() if "/1/" in p} == artifacts
    assert "max_batch_size: 8" in (repo / "lin" / "config.pbtxt").read_text()
    # and the next build is a no-op again
    assert all(i.action == "unchanged" for i in build.build(spec_mod.load(path)))


def test_turning_batching_off_still_exports_a_new_version(tmp_path):
    """max_batch_size 0 drops the batch dimension from the exported graph: a new artifact."""
    path, _ = make_project(tmp_path, [dict(LINEAR, source="{pkg}.nets:linear", formats=["onnx"])])
    build.build(spec_mod.load(path))
    path.write_text(path.read_text().replace("max_batch_size: 4", "max_batch_size: 0"))
    items = build.build(spec_mod.load(path))
    assert [i.version for i in items] == [2]
    assert repository.versions(tmp_path / "repo" / "lin") == [2]
