"""Calibration and evaluation samples: a file the user names, or samples drawn from the declared inputs.

A file holds every sample of every input stacked along a first axis: ``.npz`` with one array
per input, keyed by the input's name in models.yaml; ``.npy`` for a model with one input. Each
sample has the input's per-sample shape (dynamic dims any length, the same in every sample of
one file). Drawn samples are ``parity.random_inputs``'s: a float input with ``values: [low, high)``
uniform in it (an image declared ``values: [0, 1]`` calibrates on pixel-like values), one without
standard normal; integers from ``values:`` (default 0-9).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from tritonctl.errors import SpecError
from tritonctl.spec import ModelSpec, Spec

log = logging.getLogger("tritonctl.precision")

#: samples per calibration / evaluation call (a model without a batch dim takes one at a time)
BATCH = 8


def load(path: Path, m: ModelSpec, field: str) -> list[np.ndarray]:
    """The samples in ``path`` (``precision.<field>``), one array per input in models.yaml's order."""
    where = f"model '{m.name}': precision.{field} {path}"
    if not path.is_file():
        raise SpecError(f"{where} does not exist; fix the path (relative to models.yaml) or remove it to draw samples")
    names = [t.name for t in m.inputs]
    try:
        if path.suffix == ".npy":
            if len(names) != 1:
                raise SpecError(f"{where}: a .npy file holds one array but the model has {len(names)} inputs "
                                f"{names}; save a .npz with one array per input (numpy.savez(path, {'=..., '.join(names)}=...))")
            arrays = {names[0]: np.load(path, allow_pickle=False)}
        elif path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        else:
            raise SpecError(f"{where}: expected a .npz (one array per input) or .npy (one input) file")
    except (OSError, ValueError) as exc:
        raise SpecError(f"{where} is not a readable numpy file ({exc}); write it with numpy.savez / numpy.save") from None
    unknown, missing = sorted(set(arrays) - set(names)), [n for n in names if n not in arrays]
    if unknown or missing:
        raise SpecError(f"{where}: its arrays are {sorted(arrays)} but the model's inputs are {names}"
                        + (f" (missing: {missing})" if missing else "") + (f" (unknown: {unknown})" if unknown else "")
                        + "; name each array after an input in models.yaml")
    out, count = [], None
    for t in m.inputs:
        a = arrays[t.name]
        want = ["N"] + t.shape  # the first axis counts samples, with or without a batch dim
        if a.ndim != len(want) or any(d != -1 and d != n for d, n in zip(t.shape, a.shape[1:])):
            raise SpecError(f"{where}: input '{t.name}' has shape {list(a.shape)}, expected {want} (samples first, "
                            "then the per-sample shape of models.yaml; -1 any length); fix the file")
        if not np.can_cast(a.dtype, t.dtype, casting="same_kind"):
            raise SpecError(f"{where}: input '{t.name}' is {a.dtype}, the model takes {t.dtype}; save it as {t.dtype}")
        if count is not None and len(a) != count:
            raise SpecError(f"{where}: input '{t.name}' has {len(a)} samples, '{m.inputs[0].name}' {count}; "
                            "every input needs the same number of samples")
        count = len(a)
        out.append(a.astype(t.dtype, copy=False))
    if not count:
        raise SpecError(f"{where} holds no samples; save at least one (a few hundred calibrate well)")
    return out


def draw(m: ModelSpec, n: int, seed: int) -> list[np.ndarray]:
    """``n`` samples drawn from the declared inputs (dynamic dims at their opt length)."""
    from tritonctl.parity import random_inputs

    rng = np.random.default_rng(seed)
    return random_inputs(m, n, 1, rng) if m.batching else [
        np.stack(a) for a in zip(*(random_inputs(m, 0, 1, rng) for _ in range(n)))]


def samples(m: ModelSpec, spec: Spec) -> tuple[list[np.ndarray], list[np.ndarray], dict]:
    """(calibration samples, evaluation samples, a description for build.json). Without files the
    two sets are drawn with different seeds, so the gate never grades on what calibrated."""
    p = m.precision
    about: dict = {}
    if p.calibration is not None:
        calib = load(spec.resolve(p.calibration), m, "calibration")
        about["calibration"] = str(p.calibration)
    else:
        calib = draw(m, p.samples, seed=2024)
        about["calibration"] = f"drawn: {p.samples} samples"
        if any(v.type == "int8_static" for v in m.variants):
            log.warning(f"warning: model '{m.name}': no precision.calibration file: int8_static calibrates on {p.samples} "
                        "random samples drawn from the declared inputs; real data calibrates better "
                        "(set precision.calibration: samples.npz, see docs/precision.md)")
    if p.evaluation is not None:
        evaluation = load(spec.resolve(p.evaluation), m, "evaluation")
        about["evaluation"] = str(p.evaluation)
    elif p.calibration is not None:
        evaluation, about["evaluation"] = calib, "the calibration set"
    else:
        evaluation, about["evaluation"] = draw(m, p.samples, seed=2025), f"drawn: {p.samples} samples"
    about["evaluation_samples"] = len(evaluation[0])
    return calib, evaluation, about


def batches(m: ModelSpec, arrays: list[np.ndarray], size: int = BATCH):
    """The samples as model calls: slices of ``size`` along the first axis, or one sample per call
    for a model without a batch dim."""
    n = len(arrays[0])
    if not m.batching:
        for i in range(n):
            yield [a[i] for a in arrays]
        return
    size = max(1, min(size, m.max_batch_size))
    for i in range(0, n, size):
        yield [a[i:i + size] for a in arrays]


class Reader:
    """onnxruntime's ``CalibrationDataReader`` protocol over our samples (``get_next`` returns one
    feed dict per call, ``None`` at the end). Subclassed lazily so importing this module stays light."""

    def __new__(cls, m: ModelSpec, arrays: list[np.ndarray]):
        from onnxruntime.quantization import CalibrationDataReader

        names = [t.name for t in m.inputs]

        class _Reader(CalibrationDataReader):
            def __init__(self):
                self._feeds = iter([dict(zip(names, b)) for b in batches(m, arrays)])

            def get_next(self):
                return next(self._feeds, None)

        return _Reader()
