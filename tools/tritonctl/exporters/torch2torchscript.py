"""nn.Module -> TorchScript (model.pt), by tracing or scripting; served by Triton's pytorch backend."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from tritonctl.errors import ExportError
from tritonctl.exporters.runners import torch_runner

if TYPE_CHECKING:
    from tritonctl.exporters import ExportJob
    from tritonctl.exporters.runners import Runner

FORMAT = "torchscript"
PLATFORM = "pytorch_libtorch"
FILENAME = "model.pt"


def export(job: ExportJob) -> Runner:
    """Trace or script the module into job.path; the runner loads the saved file back, as Triton will."""
    import torch

    m = job.model
    _to_torchscript(job.module, job.example, job.path, m.torchscript.method, m.name)
    return torch_runner(torch.jit.load(str(job.path), map_location="cpu").eval())


def _to_torchscript(module, example_inputs: tuple, path: Path, method: str, model: str) -> None:
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
