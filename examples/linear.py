"""The seed material's smallest model: Linear(10, 2)."""

import torch
from torch import nn


def build(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(10, 2)
