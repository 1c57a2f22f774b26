"""The in-memory dataset: texts, an ordered label set and a multi-hot gold matrix."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eqn.errors import InputError

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class ReadReport:
    """What a reader noticed while reading one file."""

    path: str
    rows_read: int
    dropped_empty_lines: tuple[int, ...] = ()
    replaced_bytes: int = 0
    rows_without_labels: int = 0


@dataclass(frozen=True)
class Dataset:
    """Texts with a multi-hot gold matrix over a fixed, ordered label set."""

    texts: list[str]
    labels: tuple[str, ...]
    gold: np.ndarray
    name: str = ""
    reports: tuple[ReadReport, ...] = ()
    # Graded labels (beyond the paper): human intensity per label, 0 (absent) to 1
    # (strongest). None for 0/1 labels, where every gold label counts as 1.
    intensity: np.ndarray | None = None

    def __post_init__(self) -> None:
        gold = np.asarray(self.gold, dtype=bool)
        object.__setattr__(self, "gold", gold)
        object.__setattr__(self, "labels", tuple(self.labels))
        if gold.ndim != 2 or gold.shape != (len(self.texts), len(self.labels)):
            raise InputError(
                f"gold must have shape (n_texts, n_labels) = ({len(self.texts)}, "
                f"{len(self.labels)}), got {gold.shape}"
            )
        check_label_names(self.labels, source=self.name or "dataset")
        if self.intensity is not None:
            intensity = np.asarray(self.intensity, dtype=np.float32)
            if intensity.shape != gold.shape:
                raise InputError(f"intensity has shape {intensity.shape}, gold {gold.shape}")
            if not np.isfinite(intensity).all() or intensity.min() < 0 or intensity.max() > 1:
                raise InputError("intensities must be finite and within 0-1")
            if not np.array_equal(intensity > 0, gold):
                raise InputError("a label is gold exactly where its intensity is above 0")
            object.__setattr__(self, "intensity", intensity)

    @classmethod
    def from_lists(
        cls,
        texts: Sequence[str],
        labels_per_text: Sequence[Iterable[str]],
        labels: Sequence[str] | None = None,
        name: str = "",
    ) -> Dataset:
        """Build a dataset from texts and, for each text, the names of its labels."""
        if len(texts) != len(labels_per_text):
            raise InputError(
                f"got {len(texts)} texts but {len(labels_per_text)} label lists; "
                "give one label list per text"
            )
        label_lists = [list(names) for names in labels_per_text]
        names = tuple(labels) if labels is not None else sorted_label_names(label_lists)
        index = {label: i for i, label in enumerate(names)}
        gold = np.zeros((len(texts), len(names)), dtype=bool)
        for row, row_labels in enumerate(label_lists):
            for label in row_labels:
                if label not in index:
                    raise InputError(
                        f"unknown label {label!r} for text {row}; known labels: {', '.join(names)}"
                    )
                gold[row, index[label]] = True
        return cls(list(texts), names, gold, name=name)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def labels_per_sample(self) -> np.ndarray:
        """How many gold labels each sample has (the k_i of the paper's top-k_i)."""
        return self.gold.sum(axis=1)

    @property
    def is_multilabel(self) -> bool:
        return bool((self.labels_per_sample > 1).any())

    def gold_names(self, row: int) -> list[str]:
        return [self.labels[j] for j in np.flatnonzero(self.gold[row])]

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> Dataset:
        idx = np.asarray(indices, dtype=int)
        return Dataset(
            [self.texts[i] for i in idx],
            self.labels,
            self.gold[idx],
            name=self.name if name is None else name,
            intensity=None if self.intensity is None else self.intensity[idx],
        )

    def describe(self) -> dict[str, Any]:
        """Row count, label count distribution and label frequencies, as plain data."""
        counts = self.labels_per_sample
        values, freq = np.unique(counts, return_counts=True)
        return {
            "name": self.name,
            "rows": len(self),
            "labels": list(self.labels),
            "labels_per_sample": {int(v): int(f) for v, f in zip(values, freq, strict=True)},
            "label_counts": {
                label: int(n) for label, n in zip(self.labels, self.gold.sum(axis=0), strict=True)
            },
        }


@dataclass(frozen=True)
class DatasetSplits:
    """Train, dev and test splits over one label set, with how they were made."""

    train: Dataset
    dev: Dataset
    test: Dataset
    split_info: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, split: str) -> Dataset:
        if split not in SPLITS:
            raise InputError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, split)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.train.labels

    def limit(
        self, max_train: int | None = None, max_eval: int | None = None, seed: int = 0
    ) -> DatasetSplits:
        """A seeded random subset of each split, for quick runs; recorded in ``split_info``."""
        rng = np.random.default_rng(seed)

        def cut(dataset: Dataset, size: int | None) -> Dataset:
            if size is None or size >= len(dataset):
                return dataset
            if size <= 0:
                raise InputError(f"subset sizes must be positive, got {size}")
            return dataset.subset(np.sort(rng.choice(len(dataset), size, replace=False)))

        if max_train is None and max_eval is None:
            return self
        info = {
            **self.split_info,
            "limited": {"max_train": max_train, "max_eval": max_eval, "seed": seed},
        }
        return DatasetSplits(
            cut(self.train, max_train), cut(self.dev, max_eval), cut(self.test, max_eval), info
        )


# Characters a label name cannot hold: the output's separators (micro_emotions is
# "label:energy;label:energy", label cells are comma-separated) and what cannot be
# seen or typed back (control characters, zero-width and other format characters).
_SEPARATORS = {";": "micro-emotions", ":": "a micro-emotion from its energy", ",": "labels"}


def _label_name_problem(label: str) -> str | None:
    for character, separates in _SEPARATORS.items():
        if character in label:
            return f"holds {character!r}, which separates {separates} in eqn's files"
    for character in label:
        category = unicodedata.category(character)
        if category in ("Cc", "Cf", "Zl", "Zp"):
            return f"holds the invisible character U+{ord(character):04X}"
    if label != label.strip():
        return "starts or ends with a space"
    return None


def check_label_names(labels: Sequence[str], source: str = "labels") -> None:
    """Refuse empty, duplicate or unusable label names, naming the offenders."""
    if len(labels) == 0:
        raise InputError(f"{source}: the label list is empty; give at least one label name")
    blank = [i for i, label in enumerate(labels) if not str(label).strip()]
    if blank:
        raise InputError(f"{source}: label names at positions {blank} are empty")
    for label in labels:
        problem = _label_name_problem(str(label))
        if problem:
            raise InputError(f"{source}: the label name {str(label)!r} {problem}; rename it")
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label in seen:
            raise InputError(
                f"{source}: duplicate label name {label!r} at positions {seen[label]} and {i}; "
                "label names must be unique"
            )
        seen[label] = i


def sorted_label_names(label_lists: Iterable[Iterable[str]]) -> tuple[str, ...]:
    return tuple(sorted({label for labels in label_lists for label in labels}))
