"""The model file of the image_segmenter archive: returns {"out": [N, K, H, W]} as torchvision's
segmentation models (FCN, DeepLabV3) do, which TorchServe's image_segmenter handler reads."""

import torch
from torch import nn


class TinySegmenter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.classifier = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.classifier(image)}
