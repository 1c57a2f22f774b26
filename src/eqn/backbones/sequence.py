"""Shared machinery of the word-sequence backbones (cnn, lstm, textcnn)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from eqn.backbones.base import Backbone
from eqn.backbones.vocab import PAD, WordVocabulary
from eqn.errors import ConfigError

VOCAB_FILE = "vocab.json"


class WordSequenceBackbone(Backbone):
    """Tokenises into word ids with a vocabulary learned from the training texts.

    Subclasses implement :meth:`build_layers` and :meth:`forward`.
    """

    min_length: int = 1  # convolutions need at least their kernel width

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self.vocabulary: WordVocabulary | None = None

    def prepare(self, texts: Sequence[str]) -> None:
        self.vocabulary = WordVocabulary.fit(texts, self.options.max_features)
        self.build_layers(len(self.vocabulary))

    def build_layers(self, vocab_size: int) -> None:
        raise NotImplementedError

    def _vocab(self) -> WordVocabulary:
        if self.vocabulary is None:
            raise ConfigError(f"backbone {self.name!r} is not prepared: fit it or load it first")
        return self.vocabulary

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        vocabulary = self._vocab()
        return [vocabulary.encode(text, self.options.max_length) for text in texts]

    def collate(self, items: Sequence[list[int]]) -> dict[str, torch.Tensor]:
        width = max(self.min_length, max(len(item) for item in items))
        input_ids = torch.full((len(items), width), PAD, dtype=torch.long)
        for row, item in enumerate(items):
            input_ids[row, : len(item)] = torch.tensor(item, dtype=torch.long)
        lengths = torch.tensor([len(item) for item in items], dtype=torch.long)
        return {"input_ids": input_ids, "lengths": lengths}

    def save_assets(self, directory: Path) -> None:
        (directory / VOCAB_FILE).write_text(json.dumps(self._vocab().to_dict()), encoding="utf-8")

    def load_assets(self, directory: Path) -> None:
        data = json.loads((directory / VOCAB_FILE).read_text(encoding="utf-8"))
        self.vocabulary = WordVocabulary.from_dict(data)
        self.build_layers(len(self.vocabulary))
