"""The generated copies of ``tritonctl.wire`` for the programs that run without tritonctl: the Locust
files (``loadtest/``, shipped to a cluster in the ConfigMap of ``k8s/locust/``) and the chart's
``helm test`` script (``helm/triton/files/``). One source, ``tools/tritonctl/wire/``; these are
written from it and a test fails when one is stale.

The copy is one flat module, ``triton_wire.py`` (a ConfigMap is flat, and Python finds a module
beside the script it runs): the wire modules in layer order, each under a banner, with the lines
that import a sibling dropped (``from tritonctl.wire.<module> import ...``: the names are then
defined above in the same file) and ``from __future__ import annotations`` hoisted to the top.

    python tools/chart/generated_files.py wire [--check]   # `make wire-copies`
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WIRE = ROOT / "tools" / "tritonctl" / "wire"
#: the wire modules in the order their names are defined (a module uses only those above it)
MODULES = ("dtypes", "shapes", "inputs", "urls", "stats")
NAME = "triton_wire.py"
#: where the copies go
TARGETS = (ROOT / "loadtest" / NAME, ROOT / "helm" / "triton" / "files" / NAME)

FUTURE = "from __future__ import annotations\n"
_SIBLING = re.compile(r"^from tritonctl\.wire(\.\w+)? import .*\n", re.M)
HEADER = '''"""Generated from tools/tritonctl/wire/ by `make wire-copies` (tools/chart/wire_bundle.py): do not edit.

tritonctl's wire layer (data types, shapes, random inputs, URLs, statistics arithmetic) for programs
that run without tritonctl: the Locust files and the chart's helm-test script. numpy + stdlib only.
"""

'''


class BundleError(ValueError):
    """The wire modules cannot be flattened into one module (a name defined twice)."""


def _defined(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def render(wire: Path = WIRE, modules: tuple[str, ...] = MODULES) -> str:
    """The text of ``triton_wire.py``; BundleError when two modules define the same top-level name."""
    seen: dict[str, str] = {}
    parts = [HEADER, FUTURE]
    for module in modules:
        text = (wire / f"{module}.py").read_text()
        for name in _defined(ast.parse(text)):
            if name in seen:
                raise BundleError(f"wire modules {seen[name]} and {module} both define '{name}': rename one")
            seen[name] = module
        body = _SIBLING.sub("", text.replace(FUTURE, "", 1)).strip("\n")
        parts.append(f"\n\n# {'=' * 88}\n# tritonctl/wire/{module}.py\n# {'=' * 88}\n{body}\n")
    return "".join(parts)


def stale(text: str | None = None) -> list[Path]:
    """The copies that differ from the wire modules."""
    text = render() if text is None else text
    return [p for p in TARGETS if not p.exists() or p.read_text() != text]


def write() -> list[Path]:
    text = render()
    for p in TARGETS:
        p.write_text(text)
    return list(TARGETS)
