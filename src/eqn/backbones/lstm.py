"""``lstm``: word embeddings (150) into an LSTM (hidden 128); the last hidden state."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from eqn.backbones.options import LSTMOptions
from eqn.backbones.registry import register
from eqn.backbones.sequence import WordSequenceBackbone


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
