"""Load the PyTorch module a models.yaml entry points at, with errors that name the model and field."""

from __future__ import annotations

import importlib
import importlib.util
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


def source_files(m: ModelSpec, spec: Spec) -> list[Path]:
    """Files whose content defines the model's weights: hashed to decide whether to rebuild.

    For a `module:function` source that is the module's file and its sibling .py files (the
    package it lives in), found without importing it, so a no-change rebuild never imports torch.
    """
    src = m.source
    if m.kind == "python":
        return [spec.resolve(m.python)]
    if isinstance(src, (CallableSource, CheckpointSource)):
        target = src.callable if isinstance(src, CallableSource) else src.class_
        module_name = target.partition(":")[0]
        if str(spec.base_dir) not in sys.path:
            sys.path.insert(0, str(spec.base_dir))
        try:
            found = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            found = None
        files = []
        if found is not None and found.origin and found.origin.endswith(".py"):
            files = sorted(Path(found.origin).parent.glob("*.py"))
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
