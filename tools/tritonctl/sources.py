"""Load the PyTorch module a models.yaml entry points at, with errors that name the model and field."""

from __future__ import annotations

import ast
import contextlib
import importlib
import sys
import sysconfig
from pathlib import Path
from typing import Any

from tritonctl.errors import ExportError
from tritonctl.spec import CallableSource, CheckpointSource, ModelSpec, OnnxSource, Spec, TorchScriptSource


@contextlib.contextmanager
def _project_on_path(base_dir: Path):
    """`examples.digits:build` resolves relative to the directory holding models.yaml: that
    directory leads sys.path while the model is imported and built, and leaves it afterwards,
    so loading many projects in one process does not grow sys.path."""
    entry = str(base_dir)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        sys.path.remove(entry)  # removes the first occurrence: the one inserted above


def _forget_project_modules(base_dir: Path) -> None:
    """Drop project modules a previous import left in sys.modules, so the model is built from the
    files on disk now (the fingerprint hashes those files; a cached module would export the old
    code under the new version) and a same-named package of another project is never reused.
    Only top-level names that exist as files under base_dir are dropped, never installed libraries."""
    installed = [Path(p).resolve() for k, p in sysconfig.get_paths().items() if k in ("purelib", "platlib", "stdlib", "platstdlib")]
    local = set()
    for name, mod in list(sys.modules.items()):
        if "." in name or _project_module_path(name, base_dir) is None:
            continue  # only names the project itself provides (examples -> base_dir/examples/)
        where = [Path(p).resolve() for p in ([mod.__file__] if getattr(mod, "__file__", None) else list(getattr(mod, "__path__", [])))]
        if where and not any(w.is_relative_to(i) for w in where for i in installed):
            local.add(name)  # never an installed library that a project file happens to shadow
    for name in [n for n in sys.modules if n.partition(".")[0] in local]:
        del sys.modules[name]
    importlib.invalidate_caches()


def _import(target: str, model: str, field: str, base_dir: Path) -> Any:
    """Import `module:attr` fresh from base_dir; call inside _project_on_path(base_dir)."""
    module_name, _, attr = target.partition(":")
    _forget_project_modules(base_dir)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # an import can fail in any way; report it as the spec's problem
        raise ExportError(
            f"model '{model}': {field} '{target}' does not import ({type(exc).__name__}: {exc}); "
            f"fix the module path (resolved from {base_dir}) or the module itself"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ExportError(f"model '{model}': {field} '{target}': module '{module_name}' has no '{attr}'") from None


def _project_module_path(module_name: str, base_dir: Path) -> Path | None:
    """`examples.digits` -> base_dir/examples/digits.py (or its __init__.py); None outside the project."""
    parts = module_name.split(".")
    for candidate in (base_dir.joinpath(*parts).with_suffix(".py"), base_dir.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate.resolve()
    return None


def _local_module_files(module_name: str, base_dir: Path, seen: set[Path]) -> None:
    """The module's file and, recursively, the project modules it imports. Found on disk and by
    parsing, never by importing: a no-change rebuild must not import torch."""
    path = _project_module_path(module_name, base_dir)
    if path is None or path in seen:
        return  # an installed library (torch, numpy...) or already hashed
    seen.add(path)
    package = module_name if path.name == "__init__.py" else module_name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import: resolve against this module's package
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for name in filter(None, names):
            _local_module_files(name, base_dir, seen)


def source_files(m: ModelSpec, spec: Spec) -> list[Path]:
    """Files whose content defines the model's weights: hashed to decide whether to rebuild.

    For a `module:function` source: the module's file and the project-local modules it imports,
    found by parsing, so a no-change rebuild never imports torch and an unrelated example's
    change does not make a new version of this one.
    """
    src = m.source
    if m.kind == "python":
        extra = [spec.resolve(f) for f in m.files]
        return [spec.resolve(m.python)] + sorted(q for p in extra for q in ([p] if not p.is_dir() else p.rglob("*")) if not q.is_dir())
    if isinstance(src, (CallableSource, CheckpointSource)):
        target = src.callable if isinstance(src, CallableSource) else src.class_
        seen: set[Path] = set()
        _local_module_files(target.partition(":")[0], spec.base_dir, seen)
        files = sorted(seen)
        if isinstance(src, CheckpointSource):
            files.append(spec.resolve(src.checkpoint))
        return files
    if isinstance(src, TorchScriptSource):
        return [spec.resolve(src.torchscript)]
    if isinstance(src, OnnxSource):
        return [spec.resolve(src.onnx)]
    return []


def load_module(m: ModelSpec, spec: Spec):
    """The eager reference: an nn.Module (or ScriptModule) in eval mode; None for an ONNX source."""
    import torch

    src = m.source
    if isinstance(src, OnnxSource):
        return None
    if isinstance(src, TorchScriptSource):
        path = spec.resolve(src.torchscript)
        try:
            return torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as exc:
            raise ExportError(f"model '{m.name}': source.torchscript {path} does not load: {exc}") from exc
    if isinstance(src, CallableSource):
        with _project_on_path(spec.base_dir):
            factory = _import(src.callable, m.name, "source.callable", spec.base_dir)
            try:
                module = factory(**src.kwargs)
            except Exception as exc:
                raise ExportError(
                    f"model '{m.name}': source.callable '{src.callable}' raised {type(exc).__name__}: {exc}"
                ) from exc
        where = f"source.callable '{src.callable}'"
    else:
        path = spec.resolve(src.checkpoint)
        with _project_on_path(spec.base_dir):
            cls = _import(src.class_, m.name, "source.class", spec.base_dir)
            try:
                module = cls(**src.kwargs)
            except Exception as exc:
                raise ExportError(f"model '{m.name}': source.class '{src.class_}' raised {type(exc).__name__}: {exc}") from exc
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
            module.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
        except FileNotFoundError:
            raise ExportError(f"model '{m.name}': source.checkpoint {path} does not exist") from None
        except Exception as exc:
            raise ExportError(
                f"model '{m.name}': source.checkpoint {path} does not load into {src.class_}: {exc}"
            ) from exc
        where = f"source.class '{src.class_}'"
    if not isinstance(module, torch.nn.Module):
        raise ExportError(f"model '{m.name}': {where} returned {type(module).__name__}, not a torch.nn.Module")
    return module.eval()
