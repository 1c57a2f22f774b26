"""A word vocabulary for the non-pretrained backbones, built with scikit-learn."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sklearn.feature_extraction.text import CountVectorizer

PAD, UNK = 0, 1
# Words and single punctuation marks: "!" and "?" carry emotion.
TOKEN_PATTERN = r"(?u)\b\w+\b|[^\w\s]"


def _analyzer(lowercase: bool) -> Callable[[str], list[str]]:
    return CountVectorizer(token_pattern=TOKEN_PATTERN, lowercase=lowercase).build_analyzer()


class WordVocabulary:
    """The ``max_features`` most frequent tokens; id 0 pads, id 1 is unknown."""

    def __init__(self, words: Sequence[str], lowercase: bool = True) -> None:
        self.words = list(words)
        self.lowercase = lowercase
        self.index = {word: i + 2 for i, word in enumerate(self.words)}
        self._analyze = _analyzer(lowercase)

    @classmethod
    def fit(cls, texts: Sequence[str], max_features: int, lowercase: bool = True) -> WordVocabulary:
        counter = CountVectorizer(
            token_pattern=TOKEN_PATTERN, lowercase=lowercase, max_features=max_features
        )
        counter.fit(texts)
        words = sorted(counter.vocabulary_, key=counter.vocabulary_.__getitem__)
        return cls(words, lowercase)

    def __len__(self) -> int:
        return len(self.words) + 2

    def encode(self, text: str, max_length: int) -> list[int]:
        ids = [self.index.get(token, UNK) for token in self._analyze(text)][:max_length]
        return ids or [UNK]  # never an empty sequence

    def to_dict(self) -> dict[str, Any]:
        return {"words": self.words, "lowercase": self.lowercase}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WordVocabulary:
        return cls(data["words"], data.get("lowercase", True))
