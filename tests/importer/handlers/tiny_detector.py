"""The model file of the object_detector archive: per image a dict of boxes, labels and scores,
as torchvision's detection models return in eval mode (images of any size, one at a time)."""

import torch
from torch import nn


class TinyDetector(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.score = nn.Linear(3, 4)  # one score per quadrant box, from the image's mean colour

    def forward(self, images: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        detections = []
        for image in images:
            h, w = image.shape[-2:]
            boxes = torch.tensor([[0, 0, w / 2, h / 2], [w / 2, 0, w, h / 2], [0, h / 2, w / 2, h], [w / 2, h / 2, w, h]],
                                 dtype=torch.float32)
            scores = torch.sigmoid(self.score(image.mean(dim=(1, 2))))
            detections.append({"boxes": boxes, "labels": torch.arange(1, 5), "scores": scores})
        return detections
