"""``cnn``: word embeddings, one convolution, global max pooling (paper section 4.2)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from eqn.backbones.base import check_positive, register
from eqn.backbones.sequence import WordSequenceBackbone


@dataclass(frozen=True)
class CNNOptions:
    max_features: int = 15000
    embedding_dim: int = 128
    channels: int = 32
    kernel_size: int = 7
    max_length: int = 150

    def __post_init__(self) -> None:
        check_positive(
            max_features=self.max_features,
            embedding_dim=self.embedding_dim,
            channels=self.channels,
            kernel_size=self.kernel_size,
            max_length=self.max_length,
        )


@register
class CNNBackbone(WordSequenceBackbone):
    """The paper's CNN: 15,000 words, 32 channels, a width-7 filter, ReLU."""

    name = "cnn"
    Options = CNNOptions

    def __init__(self, options: CNNOptions) -> None:
        super().__init__(options)
        self.min_length = options.kernel_size

    def build_layers(self, vocab_size: int) -> None:
        self.embedding = nn.Embedding(vocab_size, self.options.embedding_dim, padding_idx=0)
        self.conv = nn.Conv1d(
            self.options.embedding_dim, self.options.channels, self.options.kernel_size
        )

    @property
    def output_dim(self) -> int:
        return self.options.channels

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.conv(self.embedding(input_ids).transpose(1, 2)))
        return hidden.max(dim=2).values
