"""Export formats as units: one module per format, one contract, one registry keyed by format name.

A unit is a module in this package that defines

    FORMAT   = "onnx"              # the name models.yaml uses in `formats:` and `serve:`
    PLATFORM = "onnxruntime_onnx"  # Triton's platform string for config.pbtxt
    FILENAME = "model.onnx"        # Triton's default model file name in a version directory
    def export(job: ExportJob) -> Runner: ...

`export` writes the artifact for `job` and returns the runner the parity gate compares with
eager PyTorch (runners.Runner: a list of numpy inputs -> a list of numpy outputs). Adding a
format (torch.export / AOTInductor, say) means adding one such file: the registry below finds
it, models.yaml accepts its name, config.pbtxt gets its platform and build runs it.

spec.py imports this registry for the format names, so the registry and its units sit below spec
and parity: they import neither (their annotations name spec's types under TYPE_CHECKING, which
never runs), and ``runners.py`` gives them the runner type and the eager runner. torch, onnx and
tensorrt are imported inside the functions that use them, so `--help` stays instant.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tritonctl.spec import ModelSpec, Spec

_CONTRACT = ("FORMAT", "PLATFORM", "FILENAME", "export")


@dataclass
class ExportJob:
    """Everything a unit needs to export one model into one version directory of the staging area."""

    model: ModelSpec
    spec: Spec  # resolves the paths models.yaml names
    module: Any  # the eager torch.nn.Module; None when the source is an ONNX file
    example: tuple | None  # example torch inputs for tracing/export; None with the module
    path: Path  # where the artifact goes: <staging>/<name>/<version>/<FILENAME>
    scratch: Path  # the staging directory, for intermediates that are never published
    exported: dict[str, Path] = field(default_factory=dict)  # artifacts of this build so far, by format

    @property
    def version_dir(self) -> Path:
        return self.path.parent

    @property
    def onnx_source(self) -> Path | None:
        """The .onnx file models.yaml names as the source (``source: {onnx: PATH}``), resolved;
        None when the source is a module. Read off the model so that units need not import spec
        (spec imports this registry)."""
        onnx = getattr(self.model.source, "onnx", None)
        return self.spec.resolve(onnx) if onnx is not None else None


def discover(package: str = __name__) -> dict[str, ModuleType]:
    """Every module of `package` that defines FORMAT, keyed by it; a half-written unit is an error."""
    pkg = importlib.import_module(package)
    units: dict[str, ModuleType] = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"{package}.{info.name}")
        if not hasattr(mod, "FORMAT"):
            continue  # a helper module, not a unit
        missing = [a for a in _CONTRACT if not hasattr(mod, a)]
        if missing:
            raise TypeError(f"exporter unit {mod.__name__} defines FORMAT but not {', '.join(missing)}; see {__name__}")
        if mod.FORMAT in units:
            raise TypeError(f"format '{mod.FORMAT}' is exported by both {units[mod.FORMAT].__name__} and {mod.__name__}")
        units[mod.FORMAT] = mod
    return dict(sorted(units.items()))


UNITS: dict[str, ModuleType] = discover()
FORMATS: tuple[str, ...] = tuple(UNITS)


def unit(fmt: str) -> ModuleType:
    return UNITS[fmt]
