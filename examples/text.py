"""A text classifier with two int64 inputs (token ids, attention mask) and a dynamic sequence length."""

import torch
import torch.nn.functional as F
from torch import nn


class TextClassifier(nn.Module):
    def __init__(self, vocab: int = 1000, dim: int = 64, classes: int = 2) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.conv = nn.Conv1d(dim, dim, 3, padding=1)
        self.head = nn.Linear(dim, classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv(self.embed(input_ids).transpose(1, 2))).transpose(1, 2)
        mask = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(pooled)


def build(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return TextClassifier()
