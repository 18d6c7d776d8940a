"""The engine-build init script (helm/triton/files/build_engines.sh), run here with stand-ins for
nvidia-smi and trtexec: plans land in the cache under <gpu-product>/<tensorrt-version>/<model>,
a matching cache entry is reused, a changed model or shape rebuilds, and a missing plan stops
Triton from starting."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

import helm_engine

SCRIPT = helm_engine.CHART / "files" / "build_engines.sh"
CONFIG = 'name: "digits"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 64\ninput [ { name: "image" } ]\n'

pytestmark = pytest.mark.skipif(not (shutil.which("bash") and shutil.which("flock")), reason="needs bash and flock")


def executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.fixture
def env(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "nvidia-smi", "#!/bin/sh\necho 'NVIDIA A100-SXM4-80GB'\n")
    # trtexec stand-in: records its calls, writes the engine file.
    executable(bin_dir / "trtexec", f"""#!/bin/sh
echo "$@" >> {tmp_path}/trtexec.calls
for a in "$@"; do case "$a" in --saveEngine=*) echo plan > "${{a#--saveEngine=}}";; esac; done
""")
    executable(bin_dir / "python3", "#!/bin/sh\necho 10.13.3\n")
    src = tmp_path / "models"
    for model in ("digits", "linear"):
        (src / model / "1").mkdir(parents=True)
        (src / model / "config.pbtxt").write_text(CONFIG.replace("digits", model))
        (src / model / "1" / "model.onnx").write_bytes(b"onnx-" + model.encode())
    (tmp_path / "models.txt").write_text("digits --minShapes=image:1x1x28x28 --maxShapes=image:64x1x28x28\n")
    return {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "SOURCE_REPOSITORY": str(src),
        "OUTPUT_REPOSITORY": str(tmp_path / "out"),
        "ENGINE_CACHE": str(tmp_path / "cache"),
        "MODELS_FILE": str(tmp_path / "models.txt"),
        "TRTEXEC_ARGS": "--fp16",
        "_tmp": str(tmp_path),
    }


def run(env):
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def calls(env):
    path = Path(env["_tmp"]) / "trtexec.calls"
    return path.read_text().splitlines() if path.exists() else []


def test_a_listed_model_should_be_built_into_the_cache_keyed_by_gpu_and_tensorrt_version(env):
    proc = run(env)
    assert proc.returncode == 0, proc.stderr
    plan = Path(env["ENGINE_CACHE"]) / "NVIDIA-A100-SXM4-80GB" / "10.13.3" / "digits" / "model.plan"
    assert plan.read_text() == "plan\n"
    (call,) = calls(env)
    assert f"--onnx={env['SOURCE_REPOSITORY']}/digits/1/model.onnx" in call
    assert "--fp16" in call and "--minShapes=image:1x1x28x28" in call and "--maxShapes=image:64x1x28x28" in call


def test_the_served_repository_should_use_the_plan_for_built_models_and_the_source_for_others(env):
    assert run(env).returncode == 0
    out = Path(env["OUTPUT_REPOSITORY"])
    config = (out / "digits" / "config.pbtxt").read_text()
    assert 'platform: "tensorrt_plan"' in config and "onnxruntime" not in config
    assert (out / "digits" / "1" / "model.plan").resolve().parent.name == "digits"
    assert (out / "linear").is_symlink() and (out / "linear" / "config.pbtxt").read_text().count("onnxruntime_onnx") == 1


def test_a_cached_plan_with_a_matching_key_should_be_reused(env):
    assert run(env).returncode == 0
    assert run(env).returncode == 0
    assert len(calls(env)) == 1


def test_a_changed_model_or_shape_should_rebuild_the_plan(env):
    assert run(env).returncode == 0
    Path(env["SOURCE_REPOSITORY"], "digits", "1", "model.onnx").write_bytes(b"onnx-digits-v2")
    assert run(env).returncode == 0
    Path(env["MODELS_FILE"]).write_text("digits --maxShapes=image:128x1x28x28\n")
    assert run(env).returncode == 0
    assert len(calls(env)) == 3


def test_a_model_dir_with_a_tensorrt_marker_should_be_built_with_the_markers_args(env):
    Path(env["MODELS_FILE"]).write_text("")
    Path(env["SOURCE_REPOSITORY"], "linear", "tensorrt").write_text("--minShapes=x:1x10 --maxShapes=x:8x10\n")
    assert run(env).returncode == 0
    (call,) = calls(env)
    assert "linear/1/model.onnx" in call and "--maxShapes=x:8x10" in call


def test_a_listed_model_without_onnx_should_stop_triton_from_starting(env):
    Path(env["MODELS_FILE"]).write_text("missing\n")
    proc = run(env)
    assert proc.returncode != 0
    assert "missing" in proc.stderr and "Triton will not start" in proc.stderr


def test_a_failing_trtexec_should_stop_triton_from_starting(env):
    bin_dir = Path(env["PATH"].split(":")[0])
    executable(bin_dir / "trtexec", "#!/bin/sh\necho 'build failed' >&2\nexit 1\n")
    proc = run(env)
    assert proc.returncode != 0 and "trtexec failed" in proc.stderr
