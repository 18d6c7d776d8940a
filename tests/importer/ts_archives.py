"""Real TorchServe archives for the import tests, made by the real torch-model-archiver (from the
peers venv, `make peers-install`) from small models defined here: nothing is downloaded."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = Path(__file__).resolve().parent / "handlers"
PEERS_VENV = ROOT / ".venv-peers"
ARCHIVER = PEERS_VENV / "bin" / "torch-model-archiver"
DIGITS = sorted((ROOT / "examples" / "digits_samples").glob("*.png"))


def archiver(name: str, store: Path, handler: str, *, serialized: Path, model_file: Path | None = None,
             extra: list[Path] = (), requirements: Path | None = None, config: Path | None = None) -> Path:
    cmd = [str(ARCHIVER), "--model-name", name, "--version", "1.0", "--handler", handler,
           "--serialized-file", str(serialized), "--export-path", str(store), "--force"]
    if model_file:
        cmd += ["--model-file", str(model_file)]
    if extra:
        cmd += ["--extra-files", ",".join(str(p) for p in extra)]
    if requirements:
        cmd += ["--requirements-file", str(requirements)]
    if config:
        cmd += ["--config-file", str(config)]
    store.mkdir(parents=True, exist_ok=True)
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return store / f"{name}.mar"


def _handler_model(module: str):
    """A model file of handlers/ imported by its module name, as TorchServe imports --model-file."""
    import importlib
    import sys

    sys.path.insert(0, str(HANDLERS))
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(str(HANDLERS))


def digits_state_dict(path: Path, epochs: int = 2) -> Path:
    """DigitsNet (the archive's model file) trained briefly on scikit-learn's digits."""
    DigitsNet = _handler_model("digits_model").DigitsNet
    from examples.digits import dataset

    torch.manual_seed(0)
    x, y, _, _ = dataset(0)
    model = DigitsNet()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(y)).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    torch.save(model.eval().state_dict(), path)
    return path


def mnist(store: Path, work: Path, name: str = "mnist", config: Path | None = None, handler: str = "mnist_handler.py") -> Path:
    weights = work / "mnist_cnn.pt"
    if not weights.exists():
        digits_state_dict(weights)
    return archiver(name, store, str(HANDLERS / handler), serialized=weights, model_file=HANDLERS / "digits_model.py",
                    config=config)


def pooled_digits(store: Path, work: Path, name: str = "pooled") -> Path:
    """The MNIST handler over PooledDigitsNet (seeded random weights), a model torch.onnx does not
    export: its import serves TorchScript only."""
    torch.manual_seed(0)
    weights = work / "pooled_digits.pt"
    torch.save(_handler_model("pooled_digits_model").PooledDigitsNet().eval().state_dict(), weights)
    return archiver(name, store, str(HANDLERS / "mnist_handler.py"), serialized=weights,
                    model_file=HANDLERS / "pooled_digits_model.py")


def torchscript(store: Path, work: Path) -> Path:
    """A traced TorchScript archive with the benchmark's JSON/raw-float32 handler and its model-config.yaml."""
    from examples.linear import build

    model = build().eval()
    path = work / "linear.pt"
    torch.jit.trace(model, torch.zeros(1, 10)).save(str(path))
    cfg = work / "linear-config.yaml"
    cfg.write_text("handler:\n  shape: [10]\n  threads: 1\n")
    return archiver("linear_ts", store, str(ROOT / "benchmarks" / "torchserve_handler.py"), serialized=path, config=cfg)


def text_classifier(store: Path, work: Path) -> Path:
    """The built-in text_classifier handler with its source_vocab.pt and index_to_name.json extras."""
    TextSentiment = _handler_model("text_model").TextSentiment
    words = "the movie was wonderful plot thin but actors were very good and music great bad terrible boring".split()
    vocab = {"<unk>": 0}
    for a in words:
        vocab.setdefault(a, len(vocab))
    for a in words:  # TorchServe's text_classifier looks up unigrams and bigrams
        for b in words:
            vocab.setdefault(f"{a} {b}", len(vocab))
    torch.manual_seed(0)
    model = TextSentiment()  # TorchServe builds model_class() with no arguments
    assert len(vocab) <= model.embedding.num_embeddings
    weights = work / "text.pt"
    torch.save(model.state_dict(), weights)
    vocab_path = work / "source_vocab.pt"
    torch.save(vocab, vocab_path)
    mapping = work / "index_to_name.json"
    mapping.write_text(json.dumps({"0": "negative", "1": "positive"}))
    requirements = work / "requirements.txt"
    requirements.write_text("captum==0.9.0\n")
    return archiver("sentiment", store, "text_classifier", serialized=weights, model_file=HANDLERS / "text_model.py",
                    extra=[vocab_path, mapping], requirements=requirements)


def float_body(seed: int, n: int = 10) -> bytes:
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32).tobytes()


def rewrite_manifest(src: Path, dst: Path, change) -> Path:
    """A copy of an archive whose MANIFEST.json went through `change(manifest)`."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "MAR-INF/MANIFEST.json":
                manifest = json.loads(data)
                change(manifest)
                data = json.dumps(manifest).encode()
            zout.writestr(info, data)
    return dst


IMAGENET_LIKE_NAMES = ["tench", "goldfish", "great_white_shark", "tiger_shark", "hammerhead", "electric_ray",
                       "stingray", "cock", "hen", "ostrich"]


def vision(store: Path, work: Path, handler: str) -> Path:
    """An eager archive for one of TorchServe's built-in vision handlers (image_classifier,
    image_segmenter, object_detector): a small model of the shape the handler expects, seeded
    random weights, and the index_to_name.json the classifier and detector map labels with."""
    name, module, cls, labels = {
        "image_classifier": ("classifier", "tiny_classifier", "TinyClassifier", IMAGENET_LIKE_NAMES),
        "image_segmenter": ("segmenter", "tiny_segmenter", "TinySegmenter", None),
        "object_detector": ("detector", "tiny_detector", "TinyDetector", ["__background__", "person", "bicycle", "car", "dog"]),
    }[handler]
    torch.manual_seed(0)
    model = getattr(_handler_model(module), cls)()
    if handler == "object_detector":
        with torch.no_grad():  # two quadrant boxes score above the handler's 0.5 threshold, two below
            model.score.bias.copy_(torch.tensor([2.0, 1.0, -1.0, -2.0]))
            model.score.weight.mul_(0.5)
    weights = work / f"{module}.pt"
    torch.save(model.state_dict(), weights)
    extra = []
    if labels:
        mapping = work / module / "index_to_name.json"  # the handler reads it by this name
        mapping.parent.mkdir(exist_ok=True)
        mapping.write_text(json.dumps({str(i): name for i, name in enumerate(labels)}))
        extra = [mapping]
    return archiver(name, store, handler, serialized=weights,
                    model_file=HANDLERS / f"{module}.py", extra=extra)
