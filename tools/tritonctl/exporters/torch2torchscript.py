"""nn.Module -> TorchScript (model.pt), by tracing or scripting."""

from __future__ import annotations

import warnings
from pathlib import Path

from tritonctl.errors import ExportError


def export(module, example_inputs: tuple, path: Path, method: str, model: str) -> None:
    import torch

    try:
        with warnings.catch_warnings():
            # Tracer warnings about data-dependent paths are expected: the parity gate decides.
            warnings.simplefilter("ignore")
            if isinstance(module, torch.jit.ScriptModule):
                scripted = module
            elif method == "script":
                scripted = torch.jit.script(module)
            else:
                scripted = torch.jit.trace(module, example_inputs, check_trace=False)
    except Exception as exc:
        other = "trace" if method == "script" else "script"
        raise ExportError(
            f"model '{model}': torchscript.method {method} failed ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            f"fix the model code or try torchscript: {{method: {other}}}"
        ) from exc
    torch.jit.save(scripted, str(path))
