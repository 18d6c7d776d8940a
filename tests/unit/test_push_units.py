"""Push's pieces without a server: DEST URL forms (Triton's own), the pin a new version needs,
and check's warning for a Python model's undeclared imports."""

from __future__ import annotations

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from tritonctl.check import check_repository
from tritonctl.errors import StorageError
from tritonctl.push.planning import _pinned_config
from tritonctl.storage.location import parse


@pytest.mark.parametrize(
    "url, bucket, path, endpoint, triton",
    [
        ("s3://models/prod/repo", "models", "prod/repo", None, "s3://models/prod/repo"),
        ("s3://127.0.0.1:9000/models/repo", "models", "repo", "http://127.0.0.1:9000", "s3://127.0.0.1:9000/models/repo"),
        ("s3://https://minio.lan:9443/models", "models", "", "https://minio.lan:9443", "s3://https://minio.lan:9443/models"),
        ("gs://bucket/a/b", "bucket", "a/b", None, "gs://bucket/a/b"),
    ],
)
def test_each_url_form_parses_to_the_bucket_path_and_the_form_triton_reads(url, bucket, path, endpoint, triton, monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    loc = parse(url)
    assert (loc.bucket, loc.path, loc.endpoint_url, loc.triton_url) == (bucket, path, endpoint, triton)


def test_endpoint_url_flag_becomes_tritons_host_port_form():
    assert parse("s3://models/repo", endpoint_url="https://minio.lan").triton_url == "s3://https://minio.lan:443/models/repo"
    assert parse("as://acct/container/repo").triton_url == "as://acct/container/repo"


@pytest.mark.parametrize(
    "url, kw, fragment",
    [
        ("ftp://x/y", {}, "unknown scheme 'ftp://'"),
        ("s3://Bad_Bucket/x", {}, "bucket 'Bad_Bucket' is not a name Triton's S3 loader accepts"),
        ("s3://bucket/with space", {}, "path segment 'with space'"),
        ("s3://127.0.0.1:9000/b-1/x", {"endpoint_url": "http://other:1"}, "give one of them"),
        ("gs://b/x", {"profile": "dev"}, "--profile names an AWS profile"),
        ("/tmp/x", {"endpoint_url": "http://a:1"}, "--endpoint-url is for s3://"),
    ],
)
def test_a_bad_destination_is_refused_with_the_part_that_is_wrong(url, kw, fragment):
    with pytest.raises(StorageError, match=None) as err:
        parse(url, **kw)
    assert fragment in str(err.value)


def _config(policy: str) -> bytes:
    cfg = mc.ModelConfig(name="m", platform="onnxruntime_onnx", max_batch_size=8)
    text_format.Parse(policy, cfg.version_policy)
    return text_format.MessageToString(cfg).encode()


@pytest.mark.parametrize(
    "policy, live, new, pinned",
    [
        ("latest { num_versions: 1 }", {1}, {2}, [1]),
        ("latest { num_versions: 2 }", {1, 2, 3}, {4}, [2, 3]),
        ("all { }", {1}, {2}, [1]),
        ("", {1}, {2}, [1]),  # no policy: Triton's default, latest 1
        ("specific { versions: [1] }", {1}, {2}, None),  # the new version is not selected: no pin needed
    ],
)
def test_a_config_that_would_select_the_new_version_is_pinned_to_what_it_serves(policy, live, new, pinned):
    text, versions = _pinned_config(_config(policy), live, new)
    if pinned is None:
        assert text is None
        return
    cfg = text_format.Parse(text, mc.ModelConfig())
    assert list(cfg.version_policy.specific.versions) == pinned == versions
    assert cfg.name == "m" and cfg.max_batch_size == 8  # everything else as it was


def _python_model(root, name, code, vendored=()):
    d = root / name
    (d / "1").mkdir(parents=True)
    (d / "1" / "model.py").write_text(code)
    for pkg in vendored:
        (d / "1" / pkg).mkdir()
        (d / "1" / pkg / "__init__.py").write_text("")
    cfg = mc.ModelConfig(name=name, backend="python", max_batch_size=0)
    cfg.input.add(name="x", data_type=mc.TYPE_FP32, dims=[1])
    cfg.output.add(name="y", data_type=mc.TYPE_FP32, dims=[1])
    (d / "config.pbtxt").write_text(text_format.MessageToString(cfg))


def test_check_warns_about_imports_neither_stdlib_nor_in_the_image_nor_vendored(tmp_path):
    code = "import json, os.path\nimport numpy as np\nimport triton_python_backend_utils as pb\nfrom PIL import Image\nimport yaml\nfrom . import helpers\n"
    _python_model(tmp_path, "bare", code)
    _python_model(tmp_path, "vendored", code, vendored=("PIL", "yaml"))
    report = check_repository(tmp_path)
    found = [f for f in report.findings if f.rule == "python.undeclared-import"]
    assert [f.model for f in found] == ["bare"]
    assert "'PIL', 'yaml'" in found[0].message and "requirements" in found[0].fix


def test_requirements_are_refused_on_a_model_that_is_not_python(tmp_path):
    from tritonctl import spec as S
    from tritonctl.errors import SpecError

    (tmp_path / "models.yaml").write_text(
        "models:\n  - name: linear\n    source: examples.linear:build\n    requirements: [pillow]\n"
        "    inputs: [{name: x, dtype: float32, shape: [10]}]\n"
    )
    with pytest.raises(SpecError) as err:
        S.load(tmp_path / "models.yaml")
    assert "requirements" in str(err.value) and "python models" in str(err.value)
