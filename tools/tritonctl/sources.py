"""Load the PyTorch module a models.yaml entry points at, with errors that name the model and field."""

from __future__ import annotations

import ast
import contextlib
import importlib
import pickletools
import re
import sys
import sysconfig
import zipfile
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
        seen: set[Path] = set()
        if isinstance(src, CallableSource) or src.class_ is not None:
            target = src.callable if isinstance(src, CallableSource) else src.class_
            _local_module_files(target.partition(":")[0], spec.base_dir, seen)
        else:  # a whole pickled module: its classes are the project code it is rebuilt with
            for module_name in pickled_globals(spec.resolve(src.checkpoint))[1]:
                _local_module_files(module_name, spec.base_dir, seen)
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
        where = f"model '{m.name}': source.torchscript {path}"
        if not path.is_file():
            raise ExportError(f"{where} does not exist; fix the path in models.yaml (relative to {spec.base_dir})")
        if archive_kind(path) == "pickle":  # torch.jit.load would call it a corrupted file
            whole = _holds_module(pickled_globals(path)[0])
            instead = (f"{{checkpoint: {src.torchscript}}} (a whole module)" if whole
                       else f"{{checkpoint: {src.torchscript}, class: module:Class}} (a state_dict and the nn.Module it loads into)")
            raise ExportError(f"{where} is a torch.save file, not TorchScript (torch.jit.save); write source: {instead}")
        try:
            return torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as exc:
            raise ExportError(f"{where} does not load as TorchScript ({type(exc).__name__}: {_one_line(exc)})") from exc
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
        module, where = _load_checkpoint(m, spec, src)
    if not isinstance(module, torch.nn.Module):
        raise ExportError(f"model '{m.name}': {where} returned {type(module).__name__}, not a torch.nn.Module")
    return module.eval()


# ---------------------------------------------------------------------------------------------
# torch.save files: what a file holds, told from its archive without unpickling it
# ---------------------------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: keys of a training checkpoint that hold the model's state_dict, in the order they are tried
STATE_DICT_KEYS = ("model_state_dict", "state_dict", "model")


def _one_line(exc: BaseException) -> str:
    """An exception as one line without terminal colours: torch's load errors span many."""
    text = _ANSI.sub("", str(exc)).strip()
    return re.sub(r"\s*\n\s*", "; ", text).replace(":; ", ": ")


def archive_kind(path: Path) -> str:
    """'torchscript' (torch.jit.save), 'pickle' (torch.save), or '' (not a zip archive torch wrote)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = {n.split("/", 1)[-1] for n in z.namelist()}
    except (OSError, zipfile.BadZipFile):
        return ""
    if "constants.pkl" in names or any(n.startswith("code/") for n in names):
        return "torchscript"
    return "pickle" if "data.pkl" in names else ""


def pickled_globals(path: Path) -> tuple[list[str], list[str]]:
    """(['module.Class', ...] in the order the pickle names them, [their module names]) of a
    torch.save archive, read with pickletools (stdlib: a no-change rebuild imports no torch)."""
    try:
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.split("/", 1)[-1] == "data.pkl")
            data = z.read(name)
    except (OSError, zipfile.BadZipFile, StopIteration):
        return [], []
    found: list[str] = []
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL":
                found.append(arg.replace(" ", ".", 1))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # a damaged pickle: torch.load will say so
        pass
    names = list(dict.fromkeys(found))
    return names, list(dict.fromkeys(n.rpartition(".")[0] for n in names))


def _holds_module(globals_: list[str]) -> bool:
    """A whole pickled nn.Module names torch.nn.modules classes; a state_dict names none."""
    return any(g.startswith("torch.nn.modules.") for g in globals_)


def pick_state_dict(state: Any, where: str, module) -> Any:
    """The state_dict in what torch.load returned: itself, or the model's entry of a training checkpoint."""
    import torch

    if not isinstance(state, dict):
        raise ExportError(f"{where} holds a {type(state).__name__}, not a state_dict; save model.state_dict() with torch.save")
    if state and all(isinstance(v, torch.Tensor) for v in state.values()):
        return state
    for key in STATE_DICT_KEYS:
        if isinstance(state.get(key), dict):
            return state[key]
    expected = set(module.state_dict())
    nested = [k for k, v in state.items() if isinstance(v, dict) and set(v) == expected]
    if len(nested) == 1:
        return state[nested[0]]
    raise ExportError(
        f"{where} holds keys {sorted(map(str, state))[:8]} and none of them is the model's state_dict "
        f"(looked for {', '.join(STATE_DICT_KEYS)}); save {{'model_state_dict': model.state_dict()}} or model.state_dict() with torch.save"
    )


def _load_checkpoint(m: ModelSpec, spec: Spec, src: CheckpointSource):
    """(module, where): a state_dict or training checkpoint loaded into `class`, or a whole pickled
    module when the source names no class. Every refusal is one line saying what to write instead."""
    import torch

    path = spec.resolve(src.checkpoint)
    where = f"model '{m.name}': source.checkpoint {path}"
    if not path.is_file():
        raise ExportError(f"{where} does not exist; fix the path in models.yaml (relative to {spec.base_dir})")
    kind = archive_kind(path)
    if kind == "torchscript":
        raise ExportError(f"{where} is a TorchScript file (torch.jit.save), not a torch.save checkpoint; write source: {{torchscript: {src.checkpoint}}}")
    globals_ = pickled_globals(path)[0]
    if src.class_ is None:
        if kind == "pickle" and not _holds_module(globals_):
            raise ExportError(
                f"{where} holds a state_dict or training checkpoint, not a whole module (torch.save(model)); "
                "add class: module:Class (and kwargs) to source, the nn.Module it loads into"
            )
        with _project_on_path(spec.base_dir):
            _forget_project_modules(spec.base_dir)
            try:  # unpickling runs code the file names: a whole module is only loaded without class
                module = torch.load(str(path), map_location="cpu", weights_only=False)
            except Exception as exc:
                raise ExportError(
                    f"{where} does not load as a whole module ({type(exc).__name__}: {_one_line(exc)}); its classes "
                    f"must import from {spec.base_dir}, or save model.state_dict() and name class: module:Class"
                ) from exc
        if isinstance(module, dict):
            raise ExportError(f"{where} holds a state_dict or training checkpoint, not a whole module; add class: module:Class to source")
        return module, f"source.checkpoint {path}"
    with _project_on_path(spec.base_dir):
        cls = _import(src.class_, m.name, "source.class", spec.base_dir)
        try:
            module = cls(**src.kwargs)
        except Exception as exc:
            raise ExportError(f"model '{m.name}': source.class '{src.class_}' raised {type(exc).__name__}: {exc}") from exc
    if kind == "pickle" and _holds_module(globals_):
        raise ExportError(
            f"{where} holds a whole pickled module (torch.save(model)), not a state_dict: write source: "
            f"{{checkpoint: {src.checkpoint}}} without class to load that module (it unpickles code: only a file you "
            "trust), or save model.state_dict() instead"
        )
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        unsafe = [g for g in globals_ if not g.startswith(("torch.", "collections."))][:3]
        raise ExportError(
            f"{where} does not load as weights ({type(exc).__name__}: {_one_line(exc).split(';')[0]}"
            f"{'; it pickles ' + ', '.join(unsafe) if unsafe else ''}); save only tensors: "
            "torch.save({'model_state_dict': model.state_dict()}) or torch.save(model.state_dict())"
        ) from exc
    try:
        module.load_state_dict(pick_state_dict(state, where, module))
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"{where} does not load into {src.class_} ({_one_line(exc)}); fix source.class and source.kwargs, or the checkpoint") from exc
    return module, f"source.class '{src.class_}'"
