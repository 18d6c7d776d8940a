"""TorchScript models against their config, with the PyTorch backend's naming rules (tritonctl.naming)."""

from __future__ import annotations

from tritonctl import naming
from tritonctl.finding import Finding, error
from tritonctl.check.model_dirs import ModelDir, Repository, model_files


def check(repo: Repository) -> list[Finding]:
    return [f for m, path in model_files(repo, "pytorch") for f in check_model(m, path)]


def forward_args(path) -> list[str]:
    """forward()'s argument names, without self, from the saved module's schema."""
    import torch

    module = torch.jit.load(str(path), map_location="cpu")
    return [a.name for a in module.forward.schema.arguments][1:]


def check_model(m: ModelDir, path) -> list[Finding]:
    out: list[Finding] = []
    where = f"({path.name} of version {path.parent.name})"
    try:
        args = forward_args(path)
    except Exception as exc:  # noqa: BLE001 - any failure to load is the finding
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return [error(path, f"torch.jit.load cannot load it: {first}", "save the model with torch.jit.save "
                      "(trace or script), not torch.save; or re-export with `tritonctl build`", "torchscript.load", m.name)]
    ins = [t.name for t in m.config.input]
    outs = [t.name for t in m.config.output]
    for problem in naming.check_torchscript_inputs(ins, args):
        out.append(error(m.config_path, f"{problem} {where}",
                         f"name the inputs {args[:len(ins)]} (forward() arguments) or "
                         f"{naming.indexed_names(ins)}", "torchscript.input-names", m.name))
    if len(ins) > len(args):
        out.append(error(m.config_path, f"the config declares {len(ins)} inputs but forward() takes {len(args)} "
                         f"({args}) {where}", f"declare exactly the {len(args)} forward() arguments",
                         "torchscript.input-count", m.name))
    for problem in naming.check_torchscript_outputs(outs):
        out.append(error(m.config_path, f"{problem} {where}",
                         f"rename the outputs to {naming.indexed_names(outs)}",
                         "torchscript.output-names", m.name))
    return out
