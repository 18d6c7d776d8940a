"""Random valid inputs: the one generator behind the parity gate, ``infer --random``, ``bench``,
``tune``, Locust and the chart's smoke test.

Integers are drawn from the input's ``values:`` range of models.yaml ([low, high), low included,
high excluded), else from ``DEFAULT_INT_VALUES``. ``tritonctl build`` writes the ``values:`` of a
model's inputs into its config.pbtxt (``parameters { key: "tritonctl.values" ... }``, JSON
``{input: [low, high]}``): a client that sees only the server reads them back with
``config_values`` and draws what the parity gate proved, so ids stay below an embedding's size.
Floats are standard normal (uniform in ``values:`` when given), booleans 0/1, BYTES random bytes.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Mapping, Sequence

import numpy as np

#: [low, high) integer inputs without ``values:`` are drawn from (docs/models-yaml.md)
DEFAULT_INT_VALUES = (0, 10)
#: the config.pbtxt parameter carrying the inputs' ``values:`` (ignored by Triton's backends)
VALUES_PARAMETER = "tritonctl.values"
#: bytes per element of a random BYTES tensor
RANDOM_BYTES = 8
#: the files a folder of samples for BYTES inputs (encoded images) offers
SAMPLE_PATTERNS = ("*.png", "*.jpg", "*.jpeg")


def values_parameter(ranges: Mapping[str, Sequence[float]]) -> str:
    """{input: (low, high)} -> the string ``VALUES_PARAMETER`` holds (JSON, keys sorted)."""
    return json.dumps({k: [_number(v) for v in r] for k, r in sorted(ranges.items())}, separators=(",", ":"))


def _number(v: float) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def config_values(config: Mapping) -> dict[str, tuple[float, float]]:
    """{input: (low, high)} from a model config dict (Triton's field names, either protocol);
    empty when the model carries none (not built by tritonctl, or no ``values:``)."""
    param = ((config.get("parameters") or {}).get(VALUES_PARAMETER) or {}).get("string_value", "")
    if not param:
        return {}
    try:
        parsed = json.loads(param)
        return {str(k): (v[0], v[1]) for k, v in parsed.items()}
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return {}  # a hand-edited, malformed parameter: fall back to the defaults, as without one


def random_array(dtype, shape: Sequence[int], rng: np.random.Generator,
                 values: Sequence[float] | None = None) -> np.ndarray:
    """A random array of numpy ``dtype`` (``np.object_`` for BYTES) and ``shape``; ``values``: the
    input's [low, high) (integers default to ``DEFAULT_INT_VALUES``)."""
    dtype = np.dtype(dtype)
    shape = [int(d) for d in shape]
    if dtype == np.object_:
        return np.array([rng.bytes(RANDOM_BYTES) for _ in range(int(np.prod(shape)))], dtype=np.object_).reshape(shape)
    if dtype == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dtype, np.integer):
        low, high = values if values is not None else DEFAULT_INT_VALUES
        return rng.integers(int(low), int(high), size=shape).astype(dtype)
    if values is not None:
        return rng.uniform(float(values[0]), float(values[1]), size=shape).astype(dtype)
    return rng.standard_normal(size=shape).astype(dtype)


def sample_files(folder: str | None) -> list[str]:
    """The sample files (``SAMPLE_PATTERNS``) in ``folder``, sorted; empty without a folder."""
    if not folder:
        return []
    return sorted(f for pattern in SAMPLE_PATTERNS for f in glob.glob(os.path.join(folder, pattern)))


def bytes_tensor(blob: bytes, shape: Sequence[int]) -> np.ndarray:
    """A BYTES tensor of ``shape`` whose every element is ``blob`` (an encoded image, a sample)."""
    shape = [int(d) for d in shape]
    return np.array([blob] * int(np.prod(shape)), dtype=np.object_).reshape(shape)
