"""Helpers for build tests: a throw-away project with its own model module and models.yaml."""

from __future__ import annotations

import hashlib
import itertools
import textwrap
from pathlib import Path

import yaml

_ids = itertools.count()

MODELS_PY = '''
import torch
from torch import nn


def linear(seed: int = 0):
    torch.manual_seed(seed)
    return nn.Linear(4, 3)


class Branchy(nn.Module):
    def forward(self, x):
        rows = []
        for i in range(x.size(0)):
            if bool(x[i].sum() > 0):
                rows.append(x[i] * 2)
            else:
                rows.append(-x[i])
        return torch.stack(rows)


def branchy():
    return Branchy()


class Unscriptable(nn.Module):
    def forward(self, x):
        import numpy
        return x * float(numpy.pi)


def unscriptable():
    return Unscriptable()


class Eig(nn.Module):
    def forward(self, x):
        return torch.linalg.eigvals(x.view(-1, 2, 2)).real.reshape(x.shape[0], -1)


def eig():
    return Eig()


class Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, ids, mask):
        h = self.embed(ids) * mask.unsqueeze(-1).float()
        return self.head(h.sum(1))


def seq():
    torch.manual_seed(0)
    return Seq()


def broken():
    raise RuntimeError("weights missing")
'''

LINEAR = {
    "name": "lin",
    "source": None,  # filled by make_project
    "inputs": [{"name": "x", "dtype": "float32", "shape": [4]}],
    "outputs": [{"name": "y", "dtype": "float32", "shape": [3]}],
    "formats": ["onnx", "torchscript"],
    "max_batch_size": 4,
}


def make_project(tmp_path: Path, models: list[dict] | None = None, *, extra: str = "") -> tuple[Path, str]:
    """Write `<pkg>/nets.py` and models.yaml; `{pkg}` in a source string becomes the package name."""
    pkg = f"buildkit_models_{next(_ids)}_{tmp_path.name.replace('-', '_')}"
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / pkg / "nets.py").write_text(textwrap.dedent(MODELS_PY) + extra)
    models = models if models is not None else [dict(LINEAR, source="{pkg}.nets:linear")]
    for m in models:
        if isinstance(m.get("source"), str):
            m["source"] = m["source"].format(pkg=pkg)
    spec = {"repository": "repo", "models": models}
    (tmp_path / "models.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return tmp_path / "models.yaml", pkg


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under root with its content hash: two equal digests mean an untouched tree."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def served_outputs(repo: Path, model: str, version: int, x) -> "np.ndarray":
    """What the published artifact of `repo/model/version` computes for `x` (ONNX Runtime or TorchScript)."""
    import numpy as np

    vdir = repo / model / str(version)
    if (vdir / "model.onnx").is_file():
        import onnxruntime as ort

        sess = ort.InferenceSession(str(vdir / "model.onnx"), providers=["CPUExecutionProvider"])
        return sess.run(None, {sess.get_inputs()[0].name: x})[0]
    import torch

    with torch.no_grad():
        return torch.jit.load(str(vdir / "model.pt"), map_location="cpu")(torch.from_numpy(x)).numpy()


def fresh_eager_outputs(nets: Path, factory: str, x, **kwargs) -> "np.ndarray":
    """The model as the file on disk defines it now, executed from its source text, not from any
    module object a previous import left behind in sys.modules."""
    import runpy

    import torch

    with torch.no_grad():
        return runpy.run_path(str(nets))[factory](**kwargs).eval()(torch.from_numpy(x)).numpy()
