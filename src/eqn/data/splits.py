"""Seeded splits: stratified train/dev/test carving, and fold assignment."""

from __future__ import annotations

import numpy as np

from eqn.data.table import Dataset
from eqn.errors import InputError

MIN_TEXTS_TO_SPLIT = 10


def stratified_split(
    dataset: Dataset, dev_size: float, test_size: float, seed: int = 0
) -> tuple[Dataset, Dataset, Dataset, str]:
    """Seeded split stratified on each sample's rarest gold label.

    Returns train, dev, test and the method used ("stratified", or "random" when
    some label is too rare to stratify on).
    """
    from sklearn.model_selection import train_test_split

    if not 0 <= dev_size < 1 or not 0 <= test_size < 1 or dev_size + test_size >= 1:
        raise InputError(
            f"dev_size and test_size must be in [0, 1) and sum below 1, got {dev_size}, {test_size}"
        )
    n = len(dataset)
    if n < MIN_TEXTS_TO_SPLIT:
        raise InputError(
            f"{n} texts are too few to carve dev and test splits from; give at least "
            f"{MIN_TEXTS_TO_SPLIT} texts, or dev and test files of their own"
        )
    frequency = dataset.gold.sum(axis=0)
    # The rarest label of each sample is the one most at risk of vanishing from a split.
    masked = np.where(dataset.gold, frequency[None, :], np.inf)
    key = np.where(dataset.gold.any(axis=1), masked.argmin(axis=1), -1)
    values, counts = np.unique(key, return_counts=True)
    rare = set(values[counts < 3].tolist())
    key = np.array([-2 if k in rare else k for k in key])

    indices = np.arange(n)
    method = "stratified"

    def take(pool: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
        nonlocal method
        if size == 0 or len(pool) == 0:
            return pool, np.array([], dtype=int)
        try:
            return train_test_split(pool, test_size=size, random_state=seed, stratify=key[pool])
        except ValueError:
            method = "random"
        try:
            return train_test_split(pool, test_size=size, random_state=seed)
        except ValueError:
            raise InputError(
                f"{n} texts are too few to carve dev and test splits from; give at least "
                f"{MIN_TEXTS_TO_SPLIT} texts, or dev and test files of their own"
            ) from None

    rest, test_idx = take(indices, test_size)
    dev_fraction = dev_size / (1 - test_size) if dev_size else 0.0
    train_idx, dev_idx = take(rest, dev_fraction)
    base = dataset.name.split(":")[0]
    return (
        dataset.subset(np.sort(train_idx), f"{base}:train"),
        dataset.subset(np.sort(dev_idx), f"{base}:dev"),
        dataset.subset(np.sort(test_idx), f"{base}:test"),
        method,
    )


def fold_assignment(n_texts: int, folds: int, seed: int) -> np.ndarray:
    """A seeded fold number per text, with fold sizes differing by at most one."""
    order = np.random.default_rng(seed).permutation(n_texts)
    assignment = np.empty(n_texts, dtype=np.int64)
    assignment[order] = np.arange(n_texts) % folds
    return assignment
