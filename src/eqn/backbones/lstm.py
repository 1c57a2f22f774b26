"""``lstm``: word embeddings (150) into an LSTM (hidden 128); the last hidden state."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from eqn.backbones.base import check_positive
from eqn.backbones.registry import register
from eqn.backbones.sequence import WordSequenceBackbone


@dataclass(frozen=True)
class LSTMOptions:
    max_features: int = 15000
    embedding_dim: int = 150
    hidden_size: int = 128
    max_length: int = 150

    def __post_init__(self) -> None:
        check_positive(
            max_features=self.max_features,
            embedding_dim=self.embedding_dim,
            hidden_size=self.hidden_size,
            max_length=self.max_length,
        )


@register
class LSTMBackbone(WordSequenceBackbone):
    name = "lstm"
    Options = LSTMOptions

    def build_layers(self, vocab_size: int) -> None:
        self.embedding = nn.Embedding(vocab_size, self.options.embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(self.options.embedding_dim, self.options.hidden_size, batch_first=True)

    @property
    def output_dim(self) -> int:
        return self.options.hidden_size

    def forward(self, input_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # Packing skips the padding, so a text's state does not depend on its batch.
        packed = pack_padded_sequence(
            self.embedding(input_ids), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.lstm(packed)
        return hidden[-1]
