"""The model file of the built-in text_classifier archive: EmbeddingBag + linear, called as
model(text, offsets) the way TorchServe's TextClassifier calls it."""

from torch import nn


class TextSentiment(nn.Module):
    def __init__(self, vocab_size: int = 512, embed_dim: int = 16, num_class: int = 2) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean")
        self.fc = nn.Linear(embed_dim, num_class)

    def forward(self, text, offsets):
        return self.fc(self.embedding(text, offsets))
