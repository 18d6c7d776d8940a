"""What every exporter unit returns, and the eager one: a ``Runner`` takes numpy inputs and gives
numpy outputs (``parity`` compares an export's runner with ``torch_runner`` of the eager module).

A helper of the units (no ``FORMAT``: the registry skips it), below ``spec`` and ``parity`` so that
units import it at the top without reaching up. torch is imported when a runner is made.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

Runner = Callable[[list[np.ndarray]], list[np.ndarray]]


def torch_runner(module) -> Runner:
    """Eager PyTorch, the reference every export is compared with (and TorchScript's own runner)."""
    import torch

    def call(inputs: list[np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            out = module(*[torch.from_numpy(a) for a in inputs])
        outs = out if isinstance(out, (tuple, list)) else (out,)
        return [o.detach().cpu().numpy() for o in outs]

    return call
