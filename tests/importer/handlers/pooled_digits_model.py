"""The model file of an archive torch.onnx cannot export: AdaptiveAvgPool2d(5) over 28x28 features
(28 is no multiple of 5; the TorchScript-based exporter converts only output sizes that divide the
input). The MNIST handler serves it; one nn.Module class, as TorchServe requires."""

import torch
from torch import nn


class PooledDigitsNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(5)
        self.head = nn.Linear(8 * 5 * 5, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.pool(torch.relu(self.conv(image))), 1))
