"""Does `tritonctl build` export an imported model to ONNX? (run in a subprocess by `tritonctl import`)

The import writes the model's models.yaml entry with ``formats: [onnx]`` into a models.yaml of its
own, in the staging tree that holds the imported files where the project will hold them; this
runs the build on it: the same loading (sources.py), example inputs, exporter unit and parity gate
that `tritonctl build` runs on the entry later, into a scratch repository. So the import lists
onnx in formats exactly when the build will export it, and otherwise keeps the build's reason.

A subprocess because the archive's model code is imported (and stays in sys.modules), and an
export can take the interpreter down with it.

Request: {"spec": the one-model models.yaml, "repository": a scratch repository (relative: in the working directory)}
Result:  {"exports": true} or {"exports": false, "reason": the first line of what failed}

Usage: python -m tritonctl.importer.onnx_check REQUEST.json RESULT.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tritonctl import build, spec as spec_mod
from tritonctl.errors import ExportError


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def reason(exc: BaseException) -> str:
    """What failed, in its own words: the exporter's (torch.onnx's, onnx.checker's, onnxruntime's)
    error the build wraps, else the build's message (a parity gate that fails on numbers)."""
    cause = exc.__cause__ if isinstance(exc, ExportError) else None
    return first_line(cause if cause is not None else exc)


def check(spec_path: Path, repository: Path) -> dict:
    try:
        build.build(spec_mod.load(spec_path), repository)
    except Exception as exc:  # the model's own code can fail in any way: every failure is a reason
        return {"exports": False, "reason": reason(exc)}
    return {"exports": True}


def main(argv: list[str]) -> int:
    req = json.loads(Path(argv[0]).read_text())
    result = check(Path(req["spec"]), Path(req["repository"]).resolve())  # relative: under the working directory
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
