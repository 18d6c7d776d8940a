"""Python models: every module model.py imports must be there when the official image runs it.

A module is there when it is in the standard library, in the -py3 image (numpy and the Python
backend's utils: tools/tritonctl/data/triton_releases.yaml `python_image_modules`), or vendored
beside model.py (what `requirements:` in models.yaml puts in the version directory, or a module
file of the model). Imports are found by parsing, never by importing. With a Triton release, the
vendored packages must also have been built for that release's Python (build.json says which).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tritonctl import compat
from tritonctl.finding import Finding, warning
from tritonctl.check.model_dirs import Repository
from tritonctl.repository import read_record


def check(repo: Repository, release: str | None = None) -> list[Finding]:
    image = compat.image_python_modules()
    python = compat.release_info(release).python if release else None
    out: list[Finding] = []
    for m in repo.models.values():
        if m.config is None or m.backend != "python":
            continue
        for v in m.versions:
            vdir = m.path / str(v)
            model_py = vdir / (m.config.default_model_filename or "model.py")
            if not model_py.is_file():
                continue
            present = _vendored(vdir) | _vendored(m.path)
            missing = sorted(n for n in imported_modules(model_py) if n not in sys.stdlib_module_names
                             and n not in image and n not in present)
            if missing:
                out.append(warning(
                    model_py,
                    f"imports {', '.join(repr(n) for n in missing)}: not in the standard library, not in the Triton "
                    f"image ({', '.join(sorted(n for n in image if not n.startswith(('_', 'c_'))))}), and not "
                    "vendored in its version directory; the official image fails to load this model",
                    f"declare the package in models.yaml (`requirements: [\"pillow==11.3.0\"]` for PIL) and rebuild: "
                    "tritonctl build vendors it into the version directory",
                    "python.undeclared-import", m.name))
            built_for = _built_for(vdir)
            if python and built_for is not None and python not in built_for:
                out.append(warning(
                    vdir, f"vendored requirements were built for Python {', '.join(built_for)}; Triton {release} runs "
                    f"Python {python}, where their compiled modules do not import",
                    f"remove this version directory and rebuild with `tritonctl build --triton-release {release}`",
                    "python.vendored-python", m.name))
    return out


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the absolute imports in a Python file (relative ones are the model's own)."""
    try:
        tree = ast.parse(path.read_text(), str(path))
    except SyntaxError:
        return set()  # Triton reports the syntax error itself when it loads the model
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def _vendored(directory: Path) -> set[str]:
    """Importable top-level names in a directory: packages, modules, extension modules."""
    names = set()
    for p in directory.iterdir():
        if p.is_dir() and not p.name.isdigit():
            names.add(p.name)
        elif p.suffix in (".py", ".so", ".pyd"):
            names.add(p.name.split(".")[0])
    return names


def _built_for(vdir: Path) -> list[str] | None:
    return (read_record(vdir) or {}).get("vendored_for_python")
