"""Run by test_import_vision.py with .venv-vision's Python (torch 2.14.1 + torchvision 0.29.1, the
pair whose PyPI wheels import together; a CUDA build that runs on the CPU): import a model store of
archives for TorchServe's built-in vision handlers, build it, serve the archives on TorchServe and
the import on the local Triton (both from this venv), and write each sample's two answers as JSON.

Usage: python vision_driver.py MODEL_STORE PROJECT_DIR RESULT.json
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from tritonctl import build, spec as spec_mod
from tritonctl.importer import import_archives
from tritonctl.importer.verify import Triton, TorchServe


def main(store: Path, project: Path, result_path: Path) -> None:
    spec_path = project / "models.yaml"
    results = import_archives(store, spec_path)
    build.build(spec_mod.load(spec_path), project / "model_repository")
    report = {}
    with TorchServe(Path(sys.prefix), [r.archive for r in results], project / "torchserve") as ts, \
            Triton(project / "model_repository", project / "triton") as triton:
        for r in results:
            answers = []
            for body in r.samples:
                status, want = ts.predict(r.name, body, r.content_type)
                answers.append({"status": status, "torchserve": base64.b64encode(want).decode(),
                                "triton": base64.b64encode(triton.predict(r.name, body)).decode()})
            report[r.name] = {"split": r.split, "models": r.models, "reasons": r.reasons, "answers": answers}
    result_path.write_text(json.dumps(report))


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:4]))
