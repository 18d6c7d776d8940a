"""`tritonctl push` against a real S3 API (moto's server on the loopback, credentials enforced)
and to a plain directory: what lands at DEST, in which order, and what a failure leaves there."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fixture_repo import Linear, build_fixture_repo, export_onnx  # noqa: E402
from s3kit import S3Server, start_s3, stop_s3  # noqa: E402
from serverkit import ROOT, free_port, tritonctl_cmd  # noqa: E402

BUCKET = "models"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = start_s3(tmp_path_factory.mktemp("moto"))
    server.client().create_bucket(Bucket=BUCKET)
    try:
        yield server
    finally:
        stop_s3(server)


@pytest.fixture(scope="module")
def small_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("small") / "repo"
    build_fixture_repo(repo)
    return repo


def with_new_version(repo: Path, dst: Path, model: str = "linear", version: int = 2, seed: int = 5) -> Path:
    """A copy of repo whose `model` has one more version (other weights)."""
    shutil.copytree(repo, dst)
    export_onnx(Linear(seed), (torch.randn(2, 10),), dst / model / str(version) / "model.onnx", ["x"], ["y"])
    return dst


def push(s3: S3Server, *args, env=None, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run(
        tritonctl_cmd("push", *map(str, args)), capture_output=True, text=True, timeout=timeout, cwd=ROOT,
        env=env if env is not None else s3.env(),
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def local_files(repo: Path) -> dict[str, Path]:
    return {str(p.relative_to(repo)): p for p in repo.rglob("*") if p.is_file()}


def read_object(s3: S3Server, key: str) -> bytes:
    return s3.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()


# ------------------------------------------------------------------------------------------------
def test_first_push_uploads_every_file_and_a_manifest_of_their_hashes(s3, small_repo):
    r = push(s3, small_repo, s3.url(BUCKET, "first"))
    assert r.returncode == 0, r.stderr
    files = local_files(small_repo)
    keys = s3.snapshot(BUCKET, "first/")
    assert set(keys) == {f"first/{rel}" for rel in files} | {"first/tritonctl-push.json"}
    for rel, path in files.items():
        assert read_object(s3, f"first/{rel}") == path.read_bytes(), rel
    manifest = json.loads(read_object(s3, "first/tritonctl-push.json"))
    assert {rel: e["sha256"] for rel, e in manifest["files"].items()} == {rel: sha256(p) for rel, p in files.items()}
    assert f"--model-repository={s3.url(BUCKET, 'first')}" in r.stdout


def test_a_push_with_nothing_changed_uploads_nothing_and_says_so(s3, small_repo):
    url = s3.url(BUCKET, "again")
    assert push(s3, small_repo, url).returncode == 0
    before = s3.snapshot(BUCKET, "again/")
    puts_before = sum(1 for m, _ in s3.requests() if m == "PUT")
    r = push(s3, small_repo, url)
    assert r.returncode == 0, r.stderr
    assert "is up to date: nothing uploaded" in r.stdout
    assert s3.snapshot(BUCKET, "again/") == before
    assert sum(1 for m, _ in s3.requests() if m == "PUT") == puts_before  # not even the manifest


def test_dry_run_prints_the_plan_and_writes_nothing(s3, small_repo):
    r = push(s3, small_repo, s3.url(BUCKET, "dry"), "--dry-run")
    assert r.returncode == 0, r.stderr
    assert "linear_ab" in r.stdout and "new model" in r.stdout and "dry run: nothing was changed" in r.stdout
    assert s3.snapshot(BUCKET, "dry/") == {}


def test_a_new_version_goes_live_only_after_it_is_complete(s3, small_repo, tmp_path):
    """The wire order: pinned config, then every file of version 2, then the real config."""
    url = s3.url(BUCKET, "order")
    assert push(s3, small_repo, url).returncode == 0
    newer = with_new_version(small_repo, tmp_path / "v2")
    start = len(s3.requests())
    r = push(s3, newer, url)
    assert r.returncode == 0, r.stderr
    puts = [path.split("?")[0] for m, path in s3.requests()[start:] if m == "PUT"]
    cfg = f"/{BUCKET}/order/linear/config.pbtxt"
    version_files = [p for p in puts if p.startswith(f"/{BUCKET}/order/linear/2/")]
    assert version_files, puts
    assert puts.count(cfg) == 2, puts  # the pin, then the real config
    first_cfg, last_cfg = puts.index(cfg), len(puts) - 1 - puts[::-1].index(cfg)
    assert first_cfg < min(puts.index(p) for p in version_files)
    assert last_cfg > max(puts.index(p) for p in version_files)
    assert read_object(s3, "order/linear/config.pbtxt") == (newer / "linear" / "config.pbtxt").read_bytes()
    assert read_object(s3, "order/linear/1/model.onnx")  # the old version stays (retired, not deleted)
    manifest = json.loads(read_object(s3, "order/tritonctl-push.json"))
    assert manifest["retired"] == {}  # version 1 is still in the local repository


def test_an_interrupted_push_leaves_the_old_versions_served_and_the_next_push_finishes(s3, small_repo, tmp_path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    from tritonctl import push as push_mod

    url = s3.url(BUCKET, "interrupted")
    assert push(s3, small_repo, url).returncode == 0
    newer = with_new_version(small_repo, tmp_path / "v2")

    def interrupt(msg: str) -> None:
        if msg.startswith("linear: linear/2/"):
            raise KeyboardInterrupt

    env = s3.env()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        with pytest.raises(KeyboardInterrupt):
            push_mod.push(newer, url, progress=interrupt)
        live = model_config_pb2.ModelConfig()
        text_format.Parse(read_object(s3, "interrupted/linear/config.pbtxt").decode(), live)
        assert list(live.version_policy.specific.versions) == [1]  # Triton keeps loading version 1 only
        result = push_mod.push(newer, url)
    assert result.uploaded_files >= 1
    assert read_object(s3, "interrupted/linear/config.pbtxt") == (newer / "linear" / "config.pbtxt").read_bytes()
    assert read_object(s3, "interrupted/linear/2/model.onnx") == (newer / "linear" / "2" / "model.onnx").read_bytes()


def test_prune_deletes_only_versions_an_earlier_push_retired(s3, small_repo, tmp_path):
    url = s3.url(BUCKET, "prune")
    v2 = with_new_version(small_repo, tmp_path / "v2")
    assert push(s3, v2, url).returncode == 0
    only_v2 = tmp_path / "only_v2"
    shutil.copytree(v2, only_v2)
    shutil.rmtree(only_v2 / "linear" / "1")
    r = push(s3, only_v2, url, "--prune")  # retires v1 now: a server may still serve it
    assert r.returncode == 0, r.stderr
    assert "retire v1" in r.stdout
    assert "prune/linear/1/model.onnx" in s3.snapshot(BUCKET, "prune/")
    r = push(s3, only_v2, url, "--prune")  # a later push: v2 has been live since
    assert r.returncode == 0, r.stderr
    keys = s3.snapshot(BUCKET, "prune/")
    assert not any(k.startswith("prune/linear/1/") for k in keys)
    assert "prune/linear/2/model.onnx" in keys
    assert json.loads(read_object(s3, "prune/tritonctl-push.json"))["retired"] == {}


def test_a_changed_version_is_refused_because_versions_are_immutable(s3, small_repo, tmp_path):
    url = s3.url(BUCKET, "immutable")
    assert push(s3, small_repo, url).returncode == 0
    before = s3.snapshot(BUCKET, "immutable/")
    changed = tmp_path / "changed"
    shutil.copytree(small_repo, changed)
    export_onnx(Linear(9), (torch.randn(2, 10),), changed / "linear" / "1" / "model.onnx", ["x"], ["y"])
    r = push(s3, changed, url)
    assert r.returncode != 0
    assert "model 'linear' version 1" in r.stderr and "immutable" in r.stderr and "nothing was changed" in r.stderr
    assert s3.snapshot(BUCKET, "immutable/") == before


# -- bad inputs: a clear error, and nothing at DEST changed ---------------------------------------
def test_a_missing_bucket_is_named_with_the_endpoint_and_credential_source(s3, small_repo):
    r = push(s3, small_repo, s3.url("no-such-bucket", "repo"))
    assert r.returncode != 0
    assert "bucket 'no-such-bucket' does not exist" in r.stderr
    assert s3.endpoint in r.stderr and "AWS_ACCESS_KEY_ID" in r.stderr
    assert "no-such-bucket" not in [b["Name"] for b in s3.client().list_buckets()["Buckets"]]


@pytest.mark.parametrize(
    "override, refusal",
    [({"AWS_SECRET_ACCESS_KEY": "wrong"}, "SignatureDoesNotMatch"), ({"AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000"}, "InvalidAccessKeyId")],
)
def test_wrong_credentials_are_refused_and_nothing_changes(s3, small_repo, tmp_path, override, refusal):
    url = s3.url(BUCKET, "creds")
    assert push(s3, small_repo, url).returncode == 0
    before = s3.snapshot(BUCKET, "creds/")
    r = push(s3, with_new_version(small_repo, tmp_path / "v2"), url, env=s3.env(**override))
    assert r.returncode != 0
    assert f"bucket '{BUCKET}' at {s3.endpoint}" in r.stderr
    assert "credentials from the environment" in r.stderr
    assert "access denied" in r.stderr.lower() or refusal in r.stderr or "Forbidden" in r.stderr
    assert s3.snapshot(BUCKET, "creds/") == before


def test_an_unreachable_endpoint_is_named(s3, small_repo):
    port = free_port()  # nothing listens there
    r = push(s3, small_repo, f"s3://127.0.0.1:{port}/{BUCKET}/repo", timeout=120)
    assert r.returncode != 0
    assert f"cannot reach bucket '{BUCKET}' at http://127.0.0.1:{port}" in r.stderr


def test_a_foreign_layout_at_dest_is_refused_and_left_alone(s3, small_repo):
    s3.client().put_object(Bucket=BUCKET, Key="foreign/somebody/else.bin", Body=b"not ours")
    before = s3.snapshot(BUCKET, "foreign/")
    r = push(s3, small_repo, s3.url(BUCKET, "foreign"))
    assert r.returncode != 0
    assert "no tritonctl-push.json" in r.stderr and "somebody/else.bin" in r.stderr and "nothing was changed" in r.stderr
    assert s3.snapshot(BUCKET, "foreign/") == before


def test_a_url_triton_cannot_read_is_refused_before_any_request(s3, small_repo):
    r = push(s3, small_repo, f"s3://127.0.0.1:{s3.port}/Bad_Bucket/repo")
    assert r.returncode != 0 and "bucket 'Bad_Bucket' is not a name Triton's S3 loader accepts" in r.stderr


# -- a directory DEST (NFS, PVC) ------------------------------------------------------------------
def test_a_directory_dest_gets_whole_versions_and_the_same_manifest(small_repo, tmp_path):
    dest = tmp_path / "mnt" / "models"
    dest.parent.mkdir()
    r = subprocess.run(tritonctl_cmd("push", str(small_repo), str(dest)), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    files = local_files(small_repo)
    assert {rel: sha256(p) for rel, p in local_files(dest).items() if rel != "tritonctl-push.json"} == {
        rel: sha256(p) for rel, p in files.items()
    }
    newer = with_new_version(small_repo, tmp_path / "v2")
    r = subprocess.run(tritonctl_cmd("push", str(newer), str(dest)), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sha256(dest / "linear" / "2" / "model.onnx") == sha256(newer / "linear" / "2" / "model.onnx")
    assert [p.name for p in dest.parent.iterdir()] == ["models"]  # no staging left beside DEST
    again = subprocess.run(tritonctl_cmd("push", str(newer), str(dest)), capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "is up to date: nothing uploaded" in again.stdout
