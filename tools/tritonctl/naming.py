"""Tensor naming rules of Triton's PyTorch (libtorch) backend, shared by the exporter, the
config writer, `tritonctl check` and the local `pytorch` backend, so all four agree.

The native backend maps config tensors to the TorchScript module positionally:
  * inputs are either all named like the forward() arguments, or all `<name>__<index>`;
  * outputs are always `<name>__<index>`, index = position in the returned tuple.
"""

from __future__ import annotations

import re

INDEXED = re.compile(r"^(?P<base>.+)__(?P<index>\d+)$")


def indexed(name: str, index: int) -> str:
    """`logits`, 0 -> `logits__0`; a name already of that form is kept."""
    return name if INDEXED.match(name) else f"{name}__{index}"


def index_of(name: str) -> int | None:
    m = INDEXED.match(name)
    return int(m.group("index")) if m else None


def indexed_names(names: list[str]) -> list[str]:
    """Each name in `<name>__<index>` form, index = position (accepted for inputs, required for outputs)."""
    return [indexed(n, i) for i, n in enumerate(names)]


def check_torchscript_inputs(config_names: list[str], forward_args: list[str]) -> list[str]:
    """Problems with config input names for a TorchScript model, as the native backend reports them."""
    problems = []
    by_index = [index_of(n) for n in config_names]
    if all(i is not None for i in by_index):
        if sorted(by_index) != list(range(len(config_names))):
            problems.append(
                f"input indices {sorted(by_index)} must be 0..{len(config_names) - 1} with no gaps "
                "(the PyTorch backend maps `<name>__<index>` to the forward() argument at that position)"
            )
        return problems
    unknown = [n for n in config_names if n not in forward_args]
    if unknown:
        problems.append(
            f"inputs {unknown} are neither forward() arguments {forward_args} nor `<name>__<index>`; "
            "the PyTorch backend accepts only one of those two conventions for all inputs"
        )
    return problems


def check_torchscript_outputs(config_names: list[str]) -> list[str]:
    bad = [n for n in config_names if index_of(n) is None]
    if bad:
        return [f"outputs {bad} must be named `<name>__<index>` (e.g. OUTPUT__0) for the PyTorch backend"]
    return []
