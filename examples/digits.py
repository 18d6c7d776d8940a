"""The MNIST-style ConvNet, trained in seconds on scikit-learn's digits (upscaled to 28x28).

Inputs are white ink on black in [0, 1], like MNIST; `build()` reports held-out accuracy in
`model.metrics`, which `tritonctl build` writes into the version's build.json.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SIZE = 28


class DigitsNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(image)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


def dataset(seed: int = 0):
    """sklearn digits as (train_x, train_y, test_x, test_y) tensors at 28x28 in [0, 1]."""
    from sklearn.datasets import load_digits

    images, labels = load_digits(return_X_y=True)
    x = torch.tensor(images, dtype=torch.float32).view(-1, 1, 8, 8) / 16.0
    x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.tensor(labels)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(y))
    train, test = order[:cut], order[cut:]
    return x[train], y[train], x[test], y[test]


def build(epochs: int = 8, seed: int = 0) -> nn.Module:
    # One thread: multi-threaded reductions change summation order, and over 8 epochs that
    # changes the weights; the same seed must give the same model in every process.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(epochs, seed)
    finally:
        torch.set_num_threads(threads)


def _train(epochs: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    train_x, train_y, test_x, test_y = dataset(seed)
    model = DigitsNet()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(train_y)).split(64):
            opt.zero_grad()
            F.cross_entropy(model(train_x[idx]), train_y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(test_x).argmax(1) == test_y).float().mean().item()
    model.metrics = {"test_accuracy": round(accuracy, 4), "test_samples": len(test_y)}
    return model
