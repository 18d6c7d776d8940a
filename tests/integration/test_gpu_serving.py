"""GPU serving (marker gpu, skipped cleanly without CUDA): KIND_GPU instances of the local
backends (TorchScript with torch on CUDA; ONNX with onnxruntime's CUDA provider where installed)
serve the examples with outputs equal to eager PyTorch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import yaml
from serverkit import free_ports, stub_pids

from tritonctl import build, client, spec as spec_mod
from tritonctl.server.launcher import LocalServer, ServerOptions

pytestmark = [pytest.mark.gpu, pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
GPU_MODELS = ("linear", "digits", "resnet18")


def _ort_has_cuda() -> bool:
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


@pytest.fixture(scope="module")
def gpu_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu")
    raw = yaml.safe_load((ROOT / "models.yaml").read_text())
    models = [m for m in raw["models"] if m["name"] in GPU_MODELS]
    for m in models:
        m["instance_groups"] = [{"count": 1, "kind": "gpu"}]
        if not _ort_has_cuda():
            m["formats"] = ["torchscript"]
    raw.update(models=models, repository=str(tmp / "repo"))
    (tmp / "models.yaml").write_text(yaml.safe_dump(raw))
    spec = spec_mod.load(tmp / "models.yaml")
    spec.base_dir = ROOT  # the example modules and labels resolve from the project
    build.build(spec, tmp / "repo")
    http_port, grpc_port, metrics_port = free_ports(3)
    opts = ServerOptions(repository=tmp / "repo", http_port=http_port, grpc_port=grpc_port,
                         metrics_port=metrics_port, state_dir=tmp / "state")
    server = LocalServer(opts).start()
    try:
        server.wait_ready(timeout=300)
        yield spec, opts
    finally:
        server.stop(timeout=30)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_gpu_instances_serve_outputs_equal_to_eager_pytorch(gpu_server, protocol):
    from tritonctl import parity, sources

    spec, opts = gpu_server
    c = client.make_client(opts.grpc_url if protocol == "grpc" else opts.http_url, protocol)
    try:
        rng = np.random.default_rng(0)
        for m in spec.models:
            eager = parity.torch_runner(sources.load_module(m, spec))
            for fmt in m.formats:
                name = m.served_name(fmt)
                cfg = client.get_config(c, name)
                for batch in (1, 2, m.max_batch_size):
                    arrays = parity.random_inputs(m, batch, 1, rng)
                    want = eager(arrays)
                    names = [i["name"] for i in cfg["input"]]
                    got = client.infer(c, name, dict(zip(names, arrays)))
                    out_names = [o["name"] for o in cfg["output"]]
                    for o, w in zip(out_names, want):
                        tol = m.tolerance_for("float32")
                        # cuDNN and CPU kernels differ in summation order; TF32 is off in torch by default
                        np.testing.assert_allclose(got[o], w, atol=max(tol.atol, 1e-3), rtol=max(tol.rtol, 1e-3))
    finally:
        c.close()


def test_every_model_instance_runs_on_the_gpu(gpu_server):
    """Not the config we wrote (KIND_GPU), but where the instances really are: every Python
    backend stub of this server holds a CUDA context, as the driver's process list shows."""
    import subprocess

    _, opts = gpu_server
    stubs = set(stub_pids(opts.state_dir))
    assert stubs, "no backend stub is running"
    smi = subprocess.run(["nvidia-smi", "--query-compute-apps=pid", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=60)
    assert smi.returncode == 0, smi.stderr
    on_gpu = {int(line) for line in smi.stdout.split() if line.strip().isdigit()}
    assert stubs <= on_gpu, f"stubs without a CUDA context: {sorted(stubs - on_gpu)}"
