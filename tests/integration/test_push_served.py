"""The repository travels: pushed to a real S3 API (moto on the loopback), served by the real
Triton from ``s3://127.0.0.1:PORT/bucket/path``, updated under load while Triton polls the bucket,
and the Python pipeline served by a Python environment that has no Pillow."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from s3kit import s3_with_bucket  # noqa: E402
from serverkit import ROOT, SteadyLoad, run_tritonctl, start_server, stop_server  # noqa: E402
from example_specs import linear_entry

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "triton"
SAMPLES = sorted((ROOT / "examples" / "digits_samples").glob("*_label*.png"))


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_with_bucket(tmp_path_factory.mktemp("moto"), BUCKET) as server:
        yield server


def label_of(path: Path) -> str:
    return re.search(r"label(\d)", path.name).group(1)


def pipeline_reads_digits(url: str, protocol: str) -> None:
    from tritonctl import client as tc

    with tc.closing(tc.make_client(url, protocol)) as c:
        for png in SAMPLES[:4]:
            out = tc.infer(c, "digits_pipeline", {"IMAGE": tc.encode_image(png.read_bytes())})
            assert out["LABELS"][0][0].decode() == label_of(png), png.name


# ------------------------------------------------------------------------------------------------
def test_triton_serves_the_pushed_example_repository_from_s3(s3, example_repo, eager_models, tmp_path):
    from tritonctl import client as tc

    url = s3.url(BUCKET, "examples")
    r = run_tritonctl("push", str(example_repo), url, timeout=600)
    assert r.returncode == 0, r.stderr
    check = run_tritonctl("check", url, timeout=600)
    assert check.returncode == 0 and " 0 error(s)" in check.stdout, check.stdout + check.stderr
    served = start_server(url, tmp_path / "serve")
    try:
        x = np.random.default_rng(7).random((3, 1, 28, 28), dtype=np.float32)
        import torch

        eager = eager_models("digits")  # built (trained) outside no_grad
        with torch.no_grad():
            expected = eager(torch.from_numpy(x)).numpy()
        for protocol in ("grpc", "http"):
            with tc.closing(tc.make_client(served.url(protocol), protocol)) as c:
                got = tc.infer(c, "digits", {"image": x})["logits"]
            np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-3)
            pipeline_reads_digits(served.url(protocol), protocol)
    finally:
        stop_server(served)


# ------------------------------------------------------------------------------------------------
SPEC = "repository: model_repository\nmodels:\n" + linear_entry("linear", "formats: [onnx]")


def eager_linear(project: Path):
    """The module examples/linear.py of `project` builds now (imported by path, fresh)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"linear_{time.monotonic_ns()}", project / "examples" / "linear.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build().eval()


def test_a_rebuilt_model_pushed_while_triton_polls_the_bucket_goes_live_without_a_failed_request(s3, tmp_path):
    from tritonctl import client as tc

    project = tmp_path / "project"
    (project / "examples").mkdir(parents=True)
    shutil.copyfile(ROOT / "examples" / "linear.py", project / "examples" / "linear.py")
    (project / "examples" / "__init__.py").write_text("")
    (project / "models.yaml").write_text(SPEC)
    repo = project / "model_repository"
    r = run_tritonctl("build", str(project / "models.yaml"), timeout=600)
    assert r.returncode == 0, r.stderr
    v1 = eager_linear(project)
    url = s3.url(BUCKET, "polled")
    assert run_tritonctl("push", str(repo), url).returncode == 0
    served = start_server(url, tmp_path / "serve", "--model-control-mode", "poll", "--poll-secs", "1")
    x = np.random.default_rng(3).random((2, 10), dtype=np.float32)
    import torch

    with torch.no_grad():
        y1 = v1(torch.from_numpy(x)).numpy()
    try:
        with SteadyLoad(served, "linear", {"x": x}, "y") as load:
            load.requests_after(20)
            np.testing.assert_allclose(load.last["grpc"], y1, atol=1e-5)
            # rebuild: other weights, so the new version's answers are told apart
            src = project / "examples" / "linear.py"
            src.write_text(src.read_text().replace("torch.manual_seed(seed)", "torch.manual_seed(seed + 100)"))
            r = run_tritonctl("build", str(project / "models.yaml"), timeout=600)
            assert r.returncode == 0 and (repo / "linear" / "2").is_dir(), r.stdout + r.stderr
            r = run_tritonctl("push", str(repo), url)
            assert r.returncode == 0 and "pinned to v1" in r.stdout, r.stdout + r.stderr
            with torch.no_grad():
                y2 = eager_linear(project)(torch.from_numpy(x)).numpy()
            assert not np.allclose(y1, y2)
            with tc.closing(tc.make_client(served.http_url, "http")) as c:
                deadline = time.monotonic() + 120
                while True:  # wait on state: version 2 ready, version 1 gone
                    states = {m["version"]: m["state"] for m in tc.repository_index(c) if m["name"] == "linear"}
                    if states.get("2") == "READY" and states.get("1") != "READY":
                        break
                    assert time.monotonic() < deadline, f"version 2 not live: {states}\n{served.log()}"
                    time.sleep(0.2)
            load.requests_after(40)
            with load.lock:
                served_now = dict(load.last)
        assert load.errors == [], load.errors[:5]
        for protocol, y in served_now.items():
            np.testing.assert_allclose(y, y2, atol=1e-5, err_msg=protocol)
    finally:
        stop_server(served)


# ------------------------------------------------------------------------------------------------
def python_without_pillow(where: Path) -> Path:
    """A virtual environment of this Python whose site-packages mirrors ours, minus Pillow."""
    import sysconfig

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    ours = Path(sysconfig.get_paths()["purelib"])
    for entry in ours.iterdir():
        if entry.name == "PIL" or entry.name.lower().startswith("pillow"):
            continue
        (site / entry.name).symlink_to(entry)
    return python


def test_the_pipeline_answers_right_from_a_python_without_pillow(copy_example_models, tmp_path):
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    from tritonctl import client as tc

    python = python_without_pillow(tmp_path / "nopil")
    probe = subprocess.run([str(python), "-c", "import PIL"], capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'PIL'" in probe.stderr
    repo = copy_example_models(copy_example_models.DIGITS_PIPELINE, tmp_path / "repo")
    # the control: the same Python model without its vendored packages
    bare = repo / "digits_preprocess_bare"
    shutil.copytree(repo / "digits_preprocess", bare)
    for vdir in [p for p in bare.iterdir() if p.is_dir()]:
        for p in vdir.iterdir():
            if p.name not in ("model.py", "build.json"):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
    cfg = text_format.Parse((bare / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    cfg.name = "digits_preprocess_bare"
    (bare / "config.pbtxt").write_text(text_format.MessageToString(cfg))

    served = start_server(repo, tmp_path / "serve", "--keep-going", python=str(python))
    try:
        for protocol in ("grpc", "http"):
            pipeline_reads_digits(served.url(protocol), protocol)
        with tc.closing(tc.make_client(served.http_url, "http")) as c:
            index = {m["name"]: m for m in tc.repository_index(c)}
        assert index["digits_preprocess"]["state"] == "READY"
        assert index["digits_preprocess_bare"]["state"] == "UNAVAILABLE"
        assert "PIL" in index["digits_preprocess_bare"].get("reason", ""), index["digits_preprocess_bare"]
    finally:
        stop_server(served)
    warned = run_tritonctl("check", str(repo))
    assert "digits_preprocess_bare/1/model.py: warning: imports 'PIL'" in warned.stdout, warned.stdout
    assert "digits_preprocess/1/model.py" not in warned.stdout
