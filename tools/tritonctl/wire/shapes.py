"""How long a dynamic (-1) dimension is when nobody says, and the request shape of an input.

models.yaml may give each dynamic dimension a ``range: {min, opt, max}``; without one,
``DYNAMIC_DIM`` is used everywhere a length is needed, on the build side through
``TensorSpec.dim_range``: the ONNX/TensorRT export profile (min/opt/max), the parity cases (all
three) and the config's warm-up sample (opt). A client facing a served model knows only ``-1``:
it sends ``opt`` (``tritonctl bench --dynamic-dim``, ``tune``, Locust's ``--dynamic-dim``, the
chart's smoke test) or draws between ``min`` and ``max`` (``tritonctl infer --random``), lengths
the default export profile accepts.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence


class DimLengths(NamedTuple):
    min: int
    opt: int
    max: int


#: min/opt/max of a dynamic dimension without a ``range`` in models.yaml
DYNAMIC_DIM = DimLengths(min=1, opt=8, max=32)


def request_shape(dims: Sequence[int], batch_size: int | None, dynamic: int = DYNAMIC_DIM.opt) -> list[int]:
    """A config's ``dims`` (no batch dimension) -> a request's shape: ``[batch_size] + dims`` when the
    model batches (``batch_size`` not None), every -1 replaced by ``dynamic``."""
    shape = [dynamic if int(d) < 0 else int(d) for d in dims]
    return ([int(batch_size)] if batch_size is not None else []) + shape


def metadata_shape(shape: Sequence[int], max_batch_size: int, batch_size: int = 1,
                   dynamic: int = DYNAMIC_DIM.opt) -> list[int]:
    """A metadata shape (batch dimension included, as -1, when max_batch_size > 0) -> a request's
    shape: the batch ``min(batch_size, max_batch_size)``, every other -1 ``dynamic``."""
    if max_batch_size > 0 and len(shape):
        return request_shape(shape[1:], min(batch_size, max_batch_size), dynamic)
    return request_shape(shape, None, dynamic)
