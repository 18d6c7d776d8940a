"""How long a dynamic (-1) dimension is when nobody says: one constant for export and clients.

models.yaml may give each dynamic dimension a ``range: {min, opt, max}``; without one,
``DYNAMIC_DIM`` is used everywhere a length is needed, always through ``TensorSpec.dim_range``
on the build side: the ONNX/TensorRT export profile (min/opt/max), the parity cases (all three)
and the config's warm-up sample (opt). A client facing a served model knows only ``-1``: it
sends ``opt`` (``tritonctl bench --dynamic-dim``, ``tune``) or draws between ``min`` and ``max``
(``tritonctl infer --random``), lengths the default export profile accepts. The load test
keeps its own copy of ``opt`` (``loadtest/triton_users.py``), since it runs without tritonctl.

Stdlib only: the client and the spec both import it.
"""

from __future__ import annotations

from typing import NamedTuple


class DimLengths(NamedTuple):
    min: int
    opt: int
    max: int


#: min/opt/max of a dynamic dimension without a ``range`` in models.yaml
DYNAMIC_DIM = DimLengths(min=1, opt=8, max=32)
