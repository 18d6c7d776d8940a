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


def digits_state_dict(path: Path, epochs: int = 2) -> Path:
    """DigitsNet (the archive's model file) trained briefly on scikit-learn's digits."""
    import sys

    sys.path.insert(0, str(HANDLERS))
    try:
        from digits_model import DigitsNet
    finally:
        sys.path.remove(str(HANDLERS))
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
    import sys

    sys.path.insert(0, str(HANDLERS))
    try:
        from text_model import TextSentiment
    finally:
        sys.path.remove(str(HANDLERS))
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
