"""`tritonctl push --adopt`: a prefix that already holds a repository uploaded by hand (`aws s3 sync
model_repository/ s3://...`) becomes one that push keeps: what is
there is hashed into the manifest, then only what differs is uploaded. Against moto's S3 server on
the loopback, with the objects put by boto3 as `aws s3 sync` puts them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture_repo import Linear, export_onnx  # noqa: E402
from serverkit import ROOT, tritonctl_cmd  # noqa: E402
from test_push import (  # noqa: E402,F401  (s3 and small_repo are fixtures)
    BUCKET, local_files, push, read_object, s3, sha256, small_repo, with_new_version,
)


def sync_by_hand(s3, repo: Path, prefix: str, extra: dict[str, bytes] | None = None) -> None:
    """What `aws s3 sync repo s3://BUCKET/prefix` leaves: one object per file, no manifest."""
    client = s3.client()
    for rel, path in local_files(repo).items():
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{rel}", Body=path.read_bytes())
    for rel, data in (extra or {}).items():
        client.put_object(Bucket=BUCKET, Key=f"{prefix}/{rel}", Body=data)


def model_puts(s3, prefix: str) -> list[str]:
    """PUTs of anything under prefix but the manifest, from moto's access log."""
    return [path for method, path in s3.requests()
            if method == "PUT" and f"/{prefix}/" in path and "tritonctl-push.json" not in path]


def test_a_hand_uploaded_prefix_is_refused_with_the_way_forward_named(s3, small_repo):
    sync_by_hand(s3, small_repo, "byhand")
    before = s3.snapshot(BUCKET, "byhand/")
    r = push(s3, small_repo, s3.url(BUCKET, "byhand"))
    assert r.returncode != 0
    assert "no tritonctl-push.json" in r.stderr and "--adopt" in r.stderr and "nothing was changed" in r.stderr
    assert s3.snapshot(BUCKET, "byhand/") == before


def test_adopt_records_what_is_there_uploads_nothing_unchanged_then_pushes_only_the_new_version(s3, small_repo, tmp_path):
    sync_by_hand(s3, small_repo, "adopted", extra={"NOTES.txt": b"uploaded by hand"})
    puts_before = len(model_puts(s3, "adopted"))
    url = s3.url(BUCKET, "adopted")

    dry = push(s3, small_repo, url, "--adopt", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    files = local_files(small_repo)
    assert f"adopt {len(files)} object(s)" in dry.stdout and "dry run: nothing was changed" in dry.stdout
    assert "tritonctl-push.json" not in str(s3.snapshot(BUCKET, "adopted/"))

    r = push(s3, small_repo, url, "--adopt")
    assert r.returncode == 0, r.stderr
    manifest = json.loads(read_object(s3, "adopted/tritonctl-push.json"))
    # every model object is recorded with its real hash; the root file is not a model's and is left alone
    assert {rel: e["sha256"] for rel, e in manifest["files"].items()} == {rel: sha256(p) for rel, p in files.items()}
    assert len(model_puts(s3, "adopted")) == puts_before  # nothing re-uploaded
    assert read_object(s3, "adopted/NOTES.txt") == b"uploaded by hand"

    again = push(s3, small_repo, url)  # from now on an ordinary push: incremental
    assert again.returncode == 0 and "is up to date: nothing uploaded" in again.stdout, again.stderr

    newer = with_new_version(small_repo, tmp_path / "v2")
    r = push(s3, newer, url)
    assert r.returncode == 0, r.stderr
    uploaded = {p.split("/adopted/", 1)[1] for p in model_puts(s3, "adopted")[puts_before:]}
    assert uploaded == {"linear/2/model.onnx", "linear/config.pbtxt"}  # the new version, then its config
    assert read_object(s3, "adopted/linear/2/model.onnx") == (newer / "linear/2/model.onnx").read_bytes()


def test_adopting_a_prefix_whose_version_differs_from_the_local_one_is_refused_and_writes_nothing(s3, small_repo, tmp_path):
    sync_by_hand(s3, small_repo, "differs")
    before = s3.snapshot(BUCKET, "differs/")
    changed = tmp_path / "changed"
    shutil.copytree(small_repo, changed)
    export_onnx(Linear(11), (torch.randn(2, 10),), changed / "linear" / "1" / "model.onnx", ["x"], ["y"])
    r = push(s3, changed, s3.url(BUCKET, "differs"), "--adopt")
    assert r.returncode != 0
    assert "model 'linear' version 1" in r.stderr and "immutable" in r.stderr and "nothing was changed" in r.stderr
    assert s3.snapshot(BUCKET, "differs/") == before  # no manifest either: adopting is all or nothing


def test_a_directory_copied_by_hand_is_adopted_the_same_way(small_repo, tmp_path):
    dest = tmp_path / "nfs" / "models"
    shutil.copytree(small_repo, dest)  # `cp -r model_repository /mnt/nfs/models`
    mtimes = {rel: p.stat().st_mtime_ns for rel, p in local_files(dest).items()}
    r = subprocess.run(tritonctl_cmd("push", str(small_repo), str(dest), "--adopt"), capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((dest / "tritonctl-push.json").read_text())
    assert {rel: e["sha256"] for rel, e in manifest["files"].items()} == {
        rel: sha256(p) for rel, p in local_files(small_repo).items()}
    # no file was rewritten: the copy is the repository now
    assert {rel: p.stat().st_mtime_ns for rel, p in local_files(dest).items() if rel != "tritonctl-push.json"} == mtimes
