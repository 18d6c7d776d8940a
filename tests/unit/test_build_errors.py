"""A newcomer's first model and the mistakes people make with it: each bad input is one line that
names the model, the field of models.yaml (or the file) and the real cause, never the exporter's
"replace the op" advice for a problem that is not the exporter's.

The newcomer's model: a 16-float feature vector plus an int64 category id that goes into an
``nn.Embedding(5, 4)``, then an MLP; saved as a ``state_dict``.
"""

from __future__ import annotations

import itertools
import re
import json
import textwrap
from pathlib import Path

import pytest
import yaml

from tritonctl import build, spec as spec_mod
from tritonctl.errors import ExportError, TritonctlError

_ids = itertools.count()

#: the number of categories the fixture's embedding has: valid ids are 0..CATEGORIES-1
CATEGORIES = 5

NEWBIE_PY = f'''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding({CATEGORIES}, 4)
        self.mlp = nn.Sequential(nn.Linear(16 + 4, 16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, features, category):
        return self.mlp(torch.cat([features, self.embed(category).flatten(1)], dim=1))
'''


def newbie_project(tmp_path: Path, *, category: dict | None = None, source: dict | None = None, **model) -> tuple[Path, str]:
    """The newcomer's project: `<pkg>/newbie.py`, its weights as a state_dict in net.pt, models.yaml."""
    import torch

    pkg = f"newbie_{next(_ids)}_{tmp_path.name.replace('-', '_')}"
    (tmp_path / pkg).mkdir()
    (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / pkg / "newbie.py").write_text(textwrap.dedent(NEWBIE_PY))
    namespace: dict = {}
    exec(textwrap.dedent(NEWBIE_PY), namespace)
    torch.manual_seed(0)
    torch.save(namespace["Net"]().state_dict(), tmp_path / "net.pt")
    entry = {
        "name": "newbie",
        "source": source or {"checkpoint": "net.pt", "class": f"{pkg}.newbie:Net"},
        "inputs": [
            {"name": "features", "dtype": "float32", "shape": [16]},
            {"name": "category", "dtype": "int64", "shape": [1], **(category or {})},
        ],
        "outputs": [{"name": "scores", "dtype": "float32", "shape": [3]}],
        "formats": ["onnx", "torchscript"],
        "max_batch_size": 4,
        **model,
    }
    (tmp_path / "models.yaml").write_text(yaml.safe_dump({"repository": "repo", "models": [entry]}, sort_keys=False))
    return tmp_path / "models.yaml", pkg


def build_error(path: Path) -> str:
    with pytest.raises(TritonctlError) as exc:
        build.build(spec_mod.load(path))
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


# ---------------------------------------------------------------------------------------------
# 1. an integer input that indexes an embedding
# ---------------------------------------------------------------------------------------------
def test_embedding_ids_beyond_the_default_range_name_the_inputs_values_field(tmp_path):
    path, _ = newbie_project(tmp_path)
    msg = build_error(path)
    assert "model 'newbie'" in msg
    assert "inputs.category.values" in msg
    assert "out of range" in msg
    assert "replace the op" not in msg
    # the embedding it indexes and the range that fits it
    assert f"Embedding({CATEGORIES}, 4)" in msg and f"values: [0, {CATEGORIES}]" in msg
    assert not (tmp_path / "repo").exists()


def test_the_message_names_the_range_that_was_drawn_from_the_users_values(tmp_path):
    path, _ = newbie_project(tmp_path, category={"values": [0, 7]})
    msg = build_error(path)
    assert "inputs.category.values" in msg and "[0, 7)" in msg


def test_the_default_range_in_the_message_is_the_one_docs_models_yaml_documents(tmp_path):
    path, _ = newbie_project(tmp_path)
    msg = build_error(path)
    docs = (Path(__file__).resolve().parents[2] / "docs" / "models-yaml.md").read_text()


    documented = re.search(r"integer inputs\s+are\s+drawn\s+from\s+`\[(\d+), (\d+)\)`", docs)
    assert documented, "docs/models-yaml.md states the default integer range"
    assert f"[{documented[1]}, {documented[2]})" in msg


def test_values_that_fit_the_embedding_let_the_build_pass(tmp_path):
    path, _ = newbie_project(tmp_path, category={"values": [0, CATEGORIES]})
    build.build(spec_mod.load(path))
    record = json.loads((tmp_path / "repo" / "newbie" / "1" / "build.json").read_text())
    assert record["parity"]["ok"] is True


# ---------------------------------------------------------------------------------------------
# 2. a declared dtype the model does not take
# ---------------------------------------------------------------------------------------------
def test_a_float_dtype_for_an_embedding_id_is_a_dtype_mismatch_naming_input_declared_and_expected(tmp_path):
    path, _ = newbie_project(tmp_path, category={"dtype": "float32", "values": [0, CATEGORIES]})
    msg = build_error(path)
    assert "model 'newbie'" in msg
    assert "inputs.category.dtype is float32" in msg
    assert "takes int64" in msg and "inputs.category.dtype: int64" in msg
    assert "replace the op" not in msg and "out of range" not in msg


def test_a_float64_feature_vector_into_float32_weights_is_a_dtype_mismatch(tmp_path):
    path, _ = newbie_project(tmp_path, category={"values": [0, CATEGORIES]})
    text = path.read_text().replace("name: features\n    dtype: float32", "name: features\n    dtype: float64")
    assert text != path.read_text()
    path.write_text(text)
    msg = build_error(path)
    assert "inputs.features.dtype is float64" in msg and "takes float32" in msg
    assert "inputs.features.dtype: float32" in msg


# ---------------------------------------------------------------------------------------------
# 3. whole pickled modules and training checkpoints
# ---------------------------------------------------------------------------------------------
def trained_net(tmp_path: Path, pkg: str):
    """The newcomer's Net imported from its project (so torch.save(model) pickles `<pkg>.newbie.Net`),
    with weights that differ from a freshly seeded one: one optimizer step; and that optimizer."""
    import sys

    import torch

    sys.path.insert(0, str(tmp_path))
    try:
        net = __import__(f"{pkg}.newbie", fromlist=["Net"]).Net()
    finally:
        sys.path.remove(str(tmp_path))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    net(torch.ones(2, 16), torch.ones(2, 1, dtype=torch.long)).sum().backward()
    opt.step()
    return net.eval(), opt


def served_scores(repo: Path, features, category):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(repo / "newbie" / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    return sess.run(None, {"features": features, "category": category})[0]


def eager_scores(net, features, category):
    import torch

    with torch.no_grad():
        return net(torch.from_numpy(features), torch.from_numpy(category)).numpy()


FEATURES = __import__("numpy").linspace(-1, 1, 32, dtype="float32").reshape(2, 16)
CATEGORY = __import__("numpy").array([[1], [4]], dtype="int64")


def test_a_whole_pickled_module_loads_from_a_checkpoint_without_class(tmp_path):
    import numpy as np
    import torch

    path, pkg = newbie_project(tmp_path, category={"values": [0, CATEGORIES]}, source={"checkpoint": "whole.pt"})
    net, _ = trained_net(tmp_path, pkg)
    torch.save(net, tmp_path / "whole.pt")
    build.build(spec_mod.load(path))
    np.testing.assert_allclose(served_scores(tmp_path / "repo", FEATURES, CATEGORY), eager_scores(net, FEATURES, CATEGORY), atol=1e-5)


def test_a_whole_module_named_with_a_class_says_in_one_line_what_to_write(tmp_path):
    import torch

    path, pkg = newbie_project(tmp_path, category={"values": [0, CATEGORIES]})
    net, _ = trained_net(tmp_path, pkg)
    torch.save(net, tmp_path / "net.pt")
    msg = build_error(path)
    assert "model 'newbie'" in msg and "source.checkpoint" in msg and "net.pt" in msg
    assert "whole" in msg and "state_dict" in msg and "without class" in msg
    assert "\x1b" not in msg and "weights_only" not in msg


def test_a_training_checkpoint_loads_its_model_state_dict(tmp_path):
    import numpy as np
    import torch

    path, pkg = newbie_project(tmp_path, category={"values": [0, CATEGORIES]})
    net, opt = trained_net(tmp_path, pkg)
    torch.save({"model_state_dict": net.state_dict(), "optimizer_state_dict": opt.state_dict(), "epoch": 3}, tmp_path / "net.pt")
    build.build(spec_mod.load(path))
    np.testing.assert_allclose(served_scores(tmp_path / "repo", FEATURES, CATEGORY), eager_scores(net, FEATURES, CATEGORY), atol=1e-5)


def test_a_checkpoint_without_a_state_dict_key_names_the_keys_it_has(tmp_path):
    import torch

    path, pkg = newbie_project(tmp_path, category={"values": [0, CATEGORIES]})
    net, opt = trained_net(tmp_path, pkg)
    torch.save({"weights_v2": list(net.state_dict().values()), "epoch": 3}, tmp_path / "net.pt")
    msg = build_error(path)
    assert "source.checkpoint" in msg and "'weights_v2'" in msg and "'epoch'" in msg and "model.state_dict()" in msg


def test_a_state_dict_named_as_torchscript_is_not_called_corrupted(tmp_path):
    path, _ = newbie_project(tmp_path, category={"values": [0, CATEGORIES]}, source={"torchscript": "net.pt"})
    msg = build_error(path)
    assert "source.torchscript" in msg and "net.pt" in msg
    assert "corrupted" not in msg and "checkpoint: " in msg and "class: " in msg


def test_a_torchscript_file_named_as_a_checkpoint_says_torchscript(tmp_path):
    import torch

    path, pkg = newbie_project(tmp_path, category={"values": [0, CATEGORIES]})
    net, _ = trained_net(tmp_path, pkg)
    torch.jit.save(torch.jit.trace(net, (torch.from_numpy(FEATURES), torch.from_numpy(CATEGORY))), tmp_path / "net.pt")
    msg = build_error(path)
    assert "source.checkpoint" in msg and "TorchScript" in msg and "{torchscript: " in msg
    assert "weights_only" not in msg


def test_a_whole_module_checkpoint_is_rebuilt_when_its_class_code_changes(tmp_path):
    import torch

    from tritonctl.sources import source_files

    path, pkg = newbie_project(tmp_path, category={"values": [0, CATEGORIES]}, source={"checkpoint": "whole.pt"})
    net, _ = trained_net(tmp_path, pkg)
    torch.save(net, tmp_path / "whole.pt")
    spec = spec_mod.load(path)
    files = source_files(spec.models[0], spec)
    assert (tmp_path / pkg / "newbie.py").resolve() in files and tmp_path / "whole.pt" in files


# ---------------------------------------------------------------------------------------------
# 6. an ONNX file as the source: the declared tensors are checked against its graph
# ---------------------------------------------------------------------------------------------
def onnx_project(tmp_path: Path, **model) -> Path:
    """The newcomer's model exported by hand to net.onnx (features, category -> scores, batch dim
    dynamic), named as `source: {onnx: net.onnx}`."""
    import torch

    path, pkg = newbie_project(tmp_path, category={"values": [0, CATEGORIES]}, source={"onnx": "net.onnx"}, formats=["onnx"], **model)
    net, _ = trained_net(tmp_path, pkg)
    torch.onnx.export(
        net, (torch.from_numpy(FEATURES), torch.from_numpy(CATEGORY)), str(tmp_path / "net.onnx"),
        input_names=["features", "category"], output_names=["scores"],
        dynamic_axes={"features": {0: "batch"}, "category": {0: "batch"}, "scores": {0: "batch"}}, dynamo=False,
    )
    return path


def redeclare(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_an_onnx_source_whose_declared_input_name_is_not_in_the_graph_is_refused_naming_both(tmp_path):
    path = onnx_project(tmp_path)
    redeclare(path, "name: features", "name: feats")
    msg = build_error(path)
    assert "model 'newbie'" in msg and "net.onnx" in msg
    assert "'feats'" in msg and "'features'" in msg
    assert "missing from input feed" not in msg
    assert not (tmp_path / "repo").exists()


def test_an_onnx_source_with_a_different_declared_dtype_is_refused_naming_both(tmp_path):
    path = onnx_project(tmp_path)
    redeclare(path, "name: category\n    dtype: int64", "name: category\n    dtype: int32")
    msg = build_error(path)
    assert "net.onnx" in msg and "inputs.category.dtype" in msg and "int32" in msg and "int64" in msg


def test_an_onnx_source_with_a_different_declared_shape_is_refused_naming_both(tmp_path):
    path = onnx_project(tmp_path)
    redeclare(path, "name: features\n    dtype: float32\n    shape:\n    - 16", "name: features\n    dtype: float32\n    shape:\n    - 8")
    msg = build_error(path)
    assert "net.onnx" in msg and "inputs.features.shape" in msg and "[8]" in msg and "[16]" in msg


def test_an_onnx_source_with_a_different_declared_output_is_refused_naming_both(tmp_path):
    path = onnx_project(tmp_path)
    redeclare(path, "name: scores", "name: logits")
    msg = build_error(path)
    assert "net.onnx" in msg and "'logits'" in msg and "'scores'" in msg


def test_an_onnx_source_that_matches_builds_and_the_parity_column_says_why_it_is_empty(tmp_path):
    import subprocess
    import sys

    path = onnx_project(tmp_path)
    out = subprocess.run([sys.executable, "-m", "tritonctl", "build", str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "repo" / "newbie" / "1" / "model.onnx").is_file()
    row = next(line for line in out.stdout.splitlines() if "newbie" in line)
    assert "ONNX source" in " ".join(out.stdout.split()), out.stdout
    assert "eager" in " ".join(out.stdout.split()), row


# ---------------------------------------------------------------------------------------------
# 1b. clients of the served model draw ids from the same values: (infer --random, bench, tune, Locust)
# ---------------------------------------------------------------------------------------------
def test_random_inputs_for_the_built_model_draw_every_id_the_embedding_takes_and_none_beyond(tmp_path):
    """The config build writes carries values:, so a client that sees only the server (its config)
    sends ids 0..4 (what the parity gate proved), never the default range's 5..9."""
    import numpy as np
    import onnxruntime as ort
    from google.protobuf import json_format

    from tritonctl import client as tc
    from tritonctl import config as config_mod

    path, _ = newbie_project(tmp_path, category={"values": [0, CATEGORIES]})
    build.build(spec_mod.load(path))
    served = config_mod.parse((tmp_path / "repo" / "newbie" / "config.pbtxt").read_text())
    served = json_format.MessageToDict(served, preserving_proto_field_name=True)
    arrays = tc.random_inputs(served, 4, rng=np.random.default_rng(0))
    ids = np.concatenate([tc.random_inputs(served, 4, rng=np.random.default_rng(s))["category"] for s in range(20)])
    assert set(np.unique(ids).tolist()) == set(range(CATEGORIES))
    # and the exported model runs on them, as the served one does for `tritonctl infer newbie --random`
    session = ort.InferenceSession(str(tmp_path / "repo" / "newbie" / "1" / "model.onnx"))
    (scores,) = session.run(None, arrays)
    assert scores.shape == (4, 3)
