"""Load the PyTorch module a models.yaml entry points at, with errors that name the model and field."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path
from typing import Any

from tritonctl.errors import ExportError
from tritonctl.spec import CallableSource, CheckpointSource, ModelSpec, OnnxSource, Spec, TorchScriptSource


def _import(target: str, model: str, field: str, base_dir: Path) -> Any:
    module_name, _, attr = target.partition(":")
    if str(base_dir) not in sys.path:
        # `examples.digits:build` resolves relative to the directory holding models.yaml.
        sys.path.insert(0, str(base_dir))
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
        return [spec.resolve(m.python)]
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
        factory = _import(src.callable, m.name, "source.callable", spec.base_dir)
        try:
            module = factory(**src.kwargs)
        except Exception as exc:
            raise ExportError(
                f"model '{m.name}': source.callable '{src.callable}' raised {type(exc).__name__}: {exc}"
            ) from exc
        where = f"source.callable '{src.callable}'"
    else:
        cls = _import(src.class_, m.name, "source.class", spec.base_dir)
        path = spec.resolve(src.checkpoint)
        try:
            module = cls(**src.kwargs)
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
