"""``textcnn``: parallel convolutions of widths 3, 4 and 5 with max pooling (Kim, 2014)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from eqn.backbones.options import TextCNNOptions
from eqn.backbones.registry import register
from eqn.backbones.sequence import WordSequenceBackbone


@register
class TextCNNBackbone(WordSequenceBackbone):
    name = "textcnn"
    Options: ClassVar[type[Any]] = TextCNNOptions

    def __init__(self, options: TextCNNOptions) -> None:
        super().__init__(options)
        self.min_length = max(options.kernel_sizes)

    def build_layers(self, vocab_size: int) -> None:
        self.embedding = nn.Embedding(vocab_size, self.options.embedding_dim, padding_idx=0)
        self.convs = nn.ModuleList(
            nn.Conv1d(self.options.embedding_dim, self.options.channels, width)
            for width in self.options.kernel_sizes
        )

    @property
    def output_dim(self) -> int:
        return self.options.channels * len(self.options.kernel_sizes)

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(input_ids).transpose(1, 2)
        return torch.cat([torch.relu(conv(embedded)).max(dim=2).values for conv in self.convs], 1)
