"""``ann``: TF-IDF features (scikit-learn) into a 512 → 256 ReLU network."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from torch import nn

from eqn.backbones.base import Backbone
from eqn.backbones.options import ANNOptions
from eqn.backbones.registry import register
from eqn.backbones.vocab import TOKEN_PATTERN
from eqn.errors import ConfigError

TFIDF_FILE = "tfidf.json"


@register
class ANNBackbone(Backbone):
    name = "ann"
    Options = ANNOptions

    def __init__(self, options: ANNOptions) -> None:
        super().__init__(options)
        self.vectorizer: TfidfVectorizer | None = None

    def _new_vectorizer(self, vocabulary: dict[str, int] | None = None) -> TfidfVectorizer:
        return TfidfVectorizer(
            token_pattern=TOKEN_PATTERN,
            ngram_range=(1, self.options.ngram_max),
            max_features=self.options.max_features,
            sublinear_tf=True,
            vocabulary=vocabulary,
        )

    def _build_layers(self, n_features: int) -> None:
        layers: list[nn.Module] = []
        width = n_features
        for size in self.options.hidden_sizes:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        self.network = nn.Sequential(*layers)

    def prepare(self, texts: Sequence[str]) -> None:
        self.vectorizer = self._new_vectorizer().fit(texts)
        self._build_layers(len(self.vectorizer.vocabulary_))

    @property
    def output_dim(self) -> int:
        return self.options.hidden_sizes[-1]

    def encode(self, texts: Sequence[str]) -> list[sp.csr_matrix]:
        if self.vectorizer is None:
            raise ConfigError("backbone 'ann' is not prepared: fit it or load it first")
        matrix = self.vectorizer.transform(texts).astype(np.float32).tocsr()
        return [matrix[i] for i in range(matrix.shape[0])]

    def item_length(self, item: sp.csr_matrix) -> int:
        return int(item.nnz)

    def collate(self, items: Sequence[sp.csr_matrix]) -> dict[str, torch.Tensor]:
        return {"features": torch.from_numpy(sp.vstack(items).toarray())}

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.network(features)

    def save_assets(self, directory: Path) -> None:
        assert self.vectorizer is not None
        vocabulary = self.vectorizer.vocabulary_
        data = {
            "terms": sorted(vocabulary, key=vocabulary.__getitem__),
            "idf": self.vectorizer.idf_.tolist(),
        }
        (directory / TFIDF_FILE).write_text(json.dumps(data), encoding="utf-8")

    def load_assets(self, directory: Path) -> None:
        data = json.loads((directory / TFIDF_FILE).read_text(encoding="utf-8"))
        vocabulary = {term: i for i, term in enumerate(data["terms"])}
        self.vectorizer = self._new_vectorizer(vocabulary)
        self.vectorizer.idf_ = np.asarray(data["idf"], dtype=np.float64)
        self._build_layers(len(vocabulary))
