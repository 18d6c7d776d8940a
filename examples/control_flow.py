"""Data-dependent control flow: each sample takes a branch chosen by its own values.

`torch.jit.script` keeps the loop and the `if`; `torch.jit.trace` records only the path taken
by the example input, so the parity gate rejects a traced export of this model.
"""

import torch
from torch import nn


class Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encode = nn.Linear(16, 16)
        self.positive = nn.Linear(16, 4)
        self.negative = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encode(x)
        rows = []
        for i in range(h.size(0)):
            if bool(h[i].sum() > 0):
                rows.append(self.positive(h[i]))
            else:
                rows.append(-self.negative(h[i]))
        return torch.stack(rows)


def build(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return Gated()
