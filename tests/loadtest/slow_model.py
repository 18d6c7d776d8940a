"""A model slower than a known bound, for the load tests' latency thresholds.

Locust keeps response times under 100 ms in whole milliseconds, so only a model known to be slower
than a threshold can be relied on to break it (linear often answers in under 1 ms, which Locust
records as 0). This one is a Python model that sleeps SLOW_MS per request.
"""

from __future__ import annotations

from pathlib import Path

SLOW_MODEL = "slow_echo"
SLOW_MS = 5
SLOW_MODEL_PY = f"""
import time
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def execute(self, requests):
        out = []
        for request in requests:
            time.sleep({SLOW_MS / 1000})
            x = pb_utils.get_input_tensor_by_name(request, "x").as_numpy()
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("y", x)]))
        return out
"""
SLOW_MODEL_CONFIG = f"""name: "{SLOW_MODEL}"
backend: "python"
max_batch_size: 0
input [ {{ name: "x" data_type: TYPE_FP32 dims: [ 4 ] }} ]
output [ {{ name: "y" data_type: TYPE_FP32 dims: [ 4 ] }} ]
instance_group [ {{ kind: KIND_CPU count: 1 }} ]
"""


def write(repo: Path) -> None:
    """Add SLOW_MODEL to the model repository ``repo``."""
    (repo / SLOW_MODEL / "1").mkdir(parents=True)
    (repo / SLOW_MODEL / "1" / "model.py").write_text(SLOW_MODEL_PY)
    (repo / SLOW_MODEL / "config.pbtxt").write_text(SLOW_MODEL_CONFIG)
