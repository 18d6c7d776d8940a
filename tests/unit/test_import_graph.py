"""The package's import graph: no cycle, every arrow points down the layers of docs/architecture.md,
and every module imports on its own (nothing it needs is left for another module to have imported).

The graph comes from the source (ast), not from running it: every import statement counts, at the
top of a module or inside a function (a function-level import is still an arrow; moving an import
into a function to dodge a cycle is what this test stops). Two rules: importing ``a.b.c`` runs
``a/__init__`` and ``a/b/__init__`` first, so those are arrows too; imports under ``if
TYPE_CHECKING:`` never run (annotations only) and are not. The exporters registry imports every
unit of its package (``pkgutil``), which ast cannot see: added by hand.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"
PACKAGE = TOOLS / "tritonctl"

# docs/architecture.md, "Layers": a module may import its own layer and the layers below it.
LAYERS: list[tuple[str, ...]] = [
    ("tritonctl", "tritonctl.errors", "tritonctl.wire", "tritonctl.naming", "tritonctl.process", "tritonctl.statedir",
     "tritonctl.finding"),
    ("tritonctl.exporters",),
    ("tritonctl.spec",),
    ("tritonctl.parity", "tritonctl.repository", "tritonctl.sources", "tritonctl.endpoints", "tritonctl.client",
     "tritonctl.stats", "tritonctl.pydeps"),
    ("tritonctl.config", "tritonctl.compat", "tritonctl.storage"),
    ("tritonctl.check", "tritonctl.precision", "tritonctl.push", "tritonctl.server", "tritonctl.backends"),
    ("tritonctl.build", "tritonctl.deployed", "tritonctl.tune", "tritonctl.bench", "tritonctl.importer",
     "tritonctl.cluster"),
    ("tritonctl.demo", "tritonctl.commands", "tritonctl.cli", "tritonctl.__main__"),
]
# Modules that run inside Triton's Python backend stub, which provides triton_python_backend_utils:
# they import on a server, not here.
STUB_ONLY = {"tritonctl.backends.onnxruntime.model", "tritonctl.backends.pytorch.model", "tritonctl.importer.triton_model"}
RUNS_ON_IMPORT = {"tritonctl.__main__"}  # `python -m tritonctl`: importing it runs the CLI


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(TOOLS).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# data/ holds files the package reads (data/loadtest: the Locust files, run by Locust, not imported)
MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "data" not in p.relative_to(PACKAGE).parts}


def _owner(name: str) -> str | None:
    """The module ``name`` refers to: itself, or the package that defines it as an attribute."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    type_only = {id(node) for n in ast.walk(tree) if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
                 for stmt in n.body for node in ast.walk(stmt)}
    deps: set[str] = set()
    for n in ast.walk(tree):
        if id(n) in type_only:
            continue
        if isinstance(n, ast.Import):
            deps.update(_owner(a.name) for a in n.names if a.name.split(".")[0] == "tritonctl")
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ""
            if n.level:  # relative: from the module's package
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(n.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            if base.split(".")[0] != "tritonctl":
                continue
            deps.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else _owner(base) for a in n.names)
    if module == "tritonctl.exporters":  # discover(): every unit of the package
        deps.update(m for m in MODULES if m.startswith("tritonctl.exporters."))
    for dep in list(deps - {None}):  # importing a.b.c runs a/__init__ and a/b/__init__ first
        parts = dep.split(".")
        deps.update(".".join(parts[:i]) for i in range(2, len(parts)))
    # a module's own packages are already importing when it runs: not arrows
    return {d for d in deps if d and d != module and not module.startswith(d + ".")}


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each as one cycle path."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(_path_through(graph, set(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _path_through(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One cycle inside ``component``: a -> b -> ... -> a (breadth-first back to the start)."""
    start = min(component)
    parents = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                path = [v]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])
                return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, v, start]
            if w not in parents:
                parents[w] = v
                queue.append(w)
    return sorted(component)


def _layer(module: str) -> int:
    best = max((prefix for layer in LAYERS for prefix in layer if module == prefix or module.startswith(prefix + ".")),
               key=len, default=None)
    assert best is not None, f"{module} is in no layer: place it in LAYERS and in docs/architecture.md"
    return next(i for i, layer in enumerate(LAYERS) if best in layer)


def _topological() -> list[str]:
    """Modules with every module they import before them."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(v: str) -> None:
        if v in seen:
            return
        seen.add(v)
        for w in sorted(GRAPH[v]):
            visit(w)
        order.append(v)

    for m in sorted(MODULES, key=lambda m: (_layer(m), m)):
        visit(m)
    return order


def test_the_cycle_finder_names_a_cycle_it_is_given():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_level_and_package_imports_but_not_type_only_ones():
    assert "tritonctl.spec" not in GRAPH["tritonctl.exporters.torch2onnx"], "an `if TYPE_CHECKING:` import is no arrow"
    assert "tritonctl.exporters.torch2onnx" in GRAPH["tritonctl.exporters"], "discover() imports every unit"
    # commands/serve.py imports the launcher inside run(): still an arrow, and with it server/__init__
    assert {"tritonctl.server.launcher", "tritonctl.server"} <= GRAPH["tritonctl.commands.serve"]


def test_the_package_import_graph_has_no_cycle():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles (break them by moving what both need down a layer, not into a function):\n" + \
        "\n".join("  " + " -> ".join(c) for c in cycles)


def test_every_import_points_down_the_layers():
    up = sorted(f"{m} (layer {_layer(m)}) -> {d} (layer {_layer(d)})"
                for m, deps in GRAPH.items() for d in deps if _layer(d) > _layer(m))
    assert not up, "imports running up the layers of docs/architecture.md:\n  " + "\n  ".join(up)


def test_every_module_imports_alone_in_layer_order():
    """One interpreter imports each module after forgetting every tritonctl module imported before
    (third-party packages stay loaded: their import time is not what this checks), in layer order."""
    order = [m for m in _topological() if m not in STUB_ONLY | RUNS_ON_IMPORT]
    assert len(order) > 80, f"the package lists {len(order)} modules: is {PACKAGE} the package?"
    script = """
import importlib, json, sys, traceback
failed = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m == "tritonctl" or m.startswith("tritonctl.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed[name] = traceback.format_exc(limit=-3)
print(json.dumps(failed))
"""
    done = subprocess.run([sys.executable, "-c", script, json.dumps(order)], capture_output=True, text=True,
                          timeout=300, cwd=TOOLS)
    assert done.returncode == 0, done.stderr[-3000:]
    failed = json.loads(done.stdout.strip().splitlines()[-1])
    assert not failed, "modules that do not import on their own:\n" + "\n".join(f"{m}:\n{tb}" for m, tb in failed.items())


@pytest.mark.parametrize("module", sorted(STUB_ONLY | RUNS_ON_IMPORT))
def test_the_modules_left_out_of_the_import_run_exist(module):
    assert module in MODULES, f"{module} is gone: drop it from the test's exclusions"
