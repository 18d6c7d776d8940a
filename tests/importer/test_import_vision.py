"""TorchServe's built-in vision handlers (image_classifier, image_segmenter, object_detector) import
torchvision, and PyPI's torchvision does not import beside the CPU torch 2.13 of .venv. These
archives (made by the real torch-model-archiver) are imported, built and served from .venv-vision
(torch 2.14.1 + torchvision 0.29.1, `make vision-install`, part of `make test`): the archives on a
real TorchServe, the import on the local Triton, the same request bodies to both (the importer's
built-in RGB sample images), the answers compared."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest
import yaml

import ts_archives
from tritonctl.importer.verify import difference

pytestmark = pytest.mark.integration
VISION_PY = ts_archives.ROOT / ".venv-vision" / "bin" / "python"
DRIVER = ts_archives.ROOT / "tests" / "importer" / "vision_driver.py"


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    if not VISION_PY.exists():  # a failure, not a skip: `make test` installs it, CI must run these
        pytest.fail(f"{VISION_PY} is missing: run `make vision-install` (or `make test`, which installs it)")
    work = tmp_path_factory.mktemp("import-vision")
    store = work / "store"
    for handler in ("image_classifier", "image_segmenter", "object_detector"):
        ts_archives.vision(store, work, handler)
    project = work / "project"
    project.mkdir()
    result = work / "result.json"
    proc = subprocess.run([str(VISION_PY), str(DRIVER), str(store), str(project), str(result)],
                          capture_output=True, text=True, cwd=ts_archives.ROOT, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(result.read_text())
    for model in report.values():
        for a in model["answers"]:
            a["torchserve"], a["triton"] = base64.b64decode(a["torchserve"]), base64.b64decode(a["triton"])
    return {"report": report, "spec": yaml.safe_load((project / "models.yaml").read_text())}


def answers_agree(model: dict) -> list:
    """Every sample answered 200 by TorchServe and the same (JSON-aware) by Triton; the parsed answers."""
    assert len(model["answers"]) == 2, "the importer's two RGB sample images"
    parsed = []
    for a in model["answers"]:
        assert a["status"] == 200, a["torchserve"][:300]
        assert difference(a["torchserve"], a["triton"]) is None, (a["torchserve"][:300], a["triton"][:300])
        parsed.append(json.loads(a["triton"]))
    return parsed


def entry(spec: dict, name: str) -> dict:
    return next(m for m in spec["models"] if m["name"] == name)


def test_image_classifier_splits_into_an_ensemble_that_answers_like_torchserve(imported):
    model = imported["report"]["classifier"]
    assert model["split"], model["reasons"]
    assert model["models"] == ["classifier_model", "classifier_preprocess", "classifier_postprocess", "classifier"]
    exported = entry(imported["spec"], "classifier_model")
    # torch.onnx cannot export AdaptiveAvgPool2d(4) over 55x55 features ("output size that are not
    # factor of input size"): the model is served as TorchScript, its tensors named by position
    assert exported["formats"] == ["torchscript"]
    step = entry(imported["spec"], "classifier")["steps"][1]
    assert step["inputs"] == {"input0__0": "input0"} and step["outputs"] == {"output0__0": "output0"}
    assert [(t["dtype"], t["shape"]) for t in exported["inputs"]] == [("float32", [3, 224, 224])]
    assert [(t["dtype"], t["shape"]) for t in exported["outputs"]] == [("float32", [10])]
    for top5 in answers_agree(model):  # TorchServe's answer: {label: probability} for the 5 best classes
        assert len(top5) == 5 and set(top5) <= set(ts_archives.IMAGENET_LIKE_NAMES), top5
        assert sum(top5.values()) <= 1.0 + 1e-6


def test_image_segmenter_is_kept_whole_because_its_model_returns_a_dict(imported):
    model = imported["report"]["segmenter"]
    assert not model["split"] and model["models"] == ["segmenter"]
    assert model["reasons"][0].startswith("the model returns dict"), model["reasons"]
    for answer in answers_agree(model):
        pixels = [p for row in answer for p in row]  # per pixel [class, probability] over the 224x224 crop
        assert len(answer) == 224 and len(pixels) == 224 * 224
        assert {int(c) for c, _ in pixels} <= {0, 1, 2, 3} and all(0.25 <= p <= 1 for _, p in pixels)


def test_object_detector_is_kept_whole_and_answers_its_boxes_like_torchserve(imported):
    model = imported["report"]["detector"]
    assert not model["split"] and model["models"] == ["detector"]
    assert "the model returns" in model["reasons"][0], model["reasons"]
    for answer, size in zip(answers_agree(model), [(256, 256), (320, 240)]):
        labels = [next(k for k in box if k != "score") for box in answer]
        assert labels == ["person", "bicycle"], answer  # the two quadrant boxes scored above 0.5
        w, h = size
        assert answer[0]["person"] == [0.0, 0.0, w / 2, h / 2]
