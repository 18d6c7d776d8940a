"""`tritonctl serve` says how far loading got while models load (it printed nothing until every
model had loaded, up to its 300 s timeout)."""

from __future__ import annotations

import pytest
from fixture_repo import out, tensor, write_config
from serverkit import start_server, stop_server
from tritonclient.grpc import model_config_pb2 as mc

pytestmark = pytest.mark.integration

SLOW_LOADING = '''
import time
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        time.sleep(4)  # a model that takes a while to load (weights, a warm-up)

    def execute(self, requests):
        return [pb_utils.InferenceResponse([pb_utils.Tensor("y", pb_utils.get_input_tensor_by_name(r, "x").as_numpy())])
                for r in requests]
'''


def test_serve_prints_load_progress_before_the_summary(tmp_path):
    repo = tmp_path / "repo"
    for name in ("quick", "slowpoke"):
        code = SLOW_LOADING if name == "slowpoke" else SLOW_LOADING.replace("time.sleep(4)", "pass")
        (repo / name / "1").mkdir(parents=True)
        (repo / name / "1" / "model.py").write_text(code)
        write_config(repo / name, mc.ModelConfig(name=name, backend="python", max_batch_size=0,
                                                 input=[tensor("x", mc.TYPE_FP32, [2])],
                                                 output=[out("y", mc.TYPE_FP32, [2])]))
    served = start_server(repo, tmp_path)
    try:
        text = served.output.read_text()
    finally:
        stop_server(served)
    before, _, _ = text.partition("Triton is serving")
    progress = [line for line in before.splitlines() if line.startswith("loading models: ")]
    # the 4 s load of slowpoke is seen while it happens, and each line differs from the one before
    assert any(line.endswith("of 2 loaded, loading slowpoke") for line in progress), text
    assert len(progress) == len(set(progress)), progress
