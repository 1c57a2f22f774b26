"""The full-label core of EQN, in plain NumPy.

Energies are real values per label, 0.0 (absent) to ``max_energy`` (strongest,
10.0 by default). This module turns gold labels into full labels (paper eq. 1-2),
performs label regression (eq. 3), classifies from energies (max, top-k as in
eq. 9, thresholds through eq. 8 in :mod:`eqn.core.annotation`) and tunes
thresholds on a dev split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eqn.core.annotation import label_sets
from eqn.core.scale import MAX_ENERGY
from eqn.errors import InputError

# Deprecated alias of eqn.core.scale.MAX_ENERGY (0.3); removed in 0.4.
DEFAULT_MAX_ENERGY = MAX_ENERGY
DEFAULT_GRID_STEP = 0.05


def _as_energies(energies: np.ndarray) -> np.ndarray:
    values = np.asarray(energies, dtype=np.float64)
    if values.ndim != 2:
        raise InputError(f"energies must be a 2-D array (n_samples, n_labels), got {values.shape}")
    return values


def _as_gold(gold: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    values = np.asarray(gold).astype(bool)
    if values.ndim != 2:
        raise InputError(f"gold must be a 2-D multi-hot array, got shape {values.shape}")
    if shape is not None and values.shape != shape:
        raise InputError(f"gold has shape {values.shape} but energies have shape {shape}")
    return values


def _check_max(max_energy: float) -> None:
    if not max_energy > 0:
        raise InputError(f"max_energy must be positive, got {max_energy}")


def full_labels(
    gold: np.ndarray, max_energy: float = MAX_ENERGY, intensity: np.ndarray | None = None
) -> np.ndarray:
    """Full-label initialisation (eq. 1-2): human labels become ``max_energy``, the rest 0.

    With graded labels (``intensity``, 0-1 per label, beyond the paper) a human
    label becomes its intensity on the energy scale instead.
    """
    _check_max(max_energy)
    mask = _as_gold(gold)
    if intensity is None:
        return np.where(mask, max_energy, 0.0).astype(np.float32)
    graded = np.asarray(intensity, dtype=np.float64)
    if graded.shape != mask.shape:
        raise InputError(f"intensity has shape {graded.shape} but gold has shape {mask.shape}")
    return np.where(mask, max_energy * np.clip(graded, 0.0, 1.0), 0.0).astype(np.float32)


def label_regression(
    gold: np.ndarray,
    energies: np.ndarray,
    max_energy: float = MAX_ENERGY,
    intensity: np.ndarray | None = None,
) -> np.ndarray:
    """Label regression (eq. 3).

    Gold labels go back to their full label (``max_energy``, or their graded
    intensity on the scale); every other label keeps the model's energy, clipped
    to ``[0, max_energy]``.
    """
    _check_max(max_energy)
    values = _as_energies(energies)
    mask = _as_gold(gold, values.shape)
    human = full_labels(mask, max_energy, intensity)
    return np.where(mask, human, np.clip(values, 0.0, max_energy)).astype(np.float32)


def mix_with_gold(
    targets: np.ndarray,
    gold: np.ndarray,
    gold_weight: float,
    max_energy: float = MAX_ENERGY,
    intensity: np.ndarray | None = None,
) -> np.ndarray:
    """Soft targets mixed with the full labels: ``w * full + (1 - w) * targets``.

    The knowledge-distillation habit of keeping a share of the hard labels: with
    targets from label regression, gold stays at its full label and every other
    energy shrinks by ``1 - w``. ``w = 0`` leaves the targets as they are.
    """
    if not 0.0 <= gold_weight <= 1.0:
        raise InputError(f"the gold weight must be from 0 to 1, got {gold_weight}")
    values = _as_energies(targets)
    mask = _as_gold(gold, values.shape)
    human = full_labels(mask, max_energy, intensity)
    return (gold_weight * human + (1.0 - gold_weight) * values).astype(np.float32)


def classify_max(energies: np.ndarray) -> np.ndarray:
    """Single-label classification: the label of highest energy, as a multi-hot row."""
    values = _as_energies(energies)
    prediction = np.zeros(values.shape, dtype=bool)
    prediction[np.arange(len(values)), values.argmax(axis=1)] = True
    return prediction


def classify_top_k(energies: np.ndarray, k: int | Sequence[int] | np.ndarray) -> np.ndarray:
    """Top-k classification (eq. 9), with one k for all samples or a k per sample.

    With ``k`` set to each sample's gold label count this is the paper's top-k_i
    protocol, which assumes the number of gold labels is known.
    """
    values = _as_energies(energies)
    n, c = values.shape
    ks = np.broadcast_to(np.asarray(k, dtype=int), (n,))
    if (ks < 0).any() or (ks > c).any():
        raise InputError(f"k must be between 0 and the number of labels ({c})")
    # A stable sort on -energy keeps ties in label order, so results are deterministic.
    order = np.argsort(-values, axis=1, kind="stable")
    ranks = np.empty_like(order)
    ranks[np.arange(n)[:, None], order] = np.arange(c)[None, :]
    return ranks < ks[:, None]


def classify_threshold(
    energies: np.ndarray,
    thresholds: float | Sequence[float] | np.ndarray,
    keep_top: bool = True,
) -> np.ndarray:
    """Labels kept by eq. 8 at these (global or per-label) thresholds; see
    :func:`eqn.core.annotation.label_sets`, which this is."""
    return label_sets(_as_energies(energies), thresholds, keep_top)


def threshold_grid(max_energy: float = MAX_ENERGY, step: float = DEFAULT_GRID_STEP) -> np.ndarray:
    """Candidate thresholds from 0 to ``max_energy``."""
    _check_max(max_energy)
    return np.round(np.arange(0.0, max_energy + step / 2, step), 6)


def f1_per_label(prediction: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Per-label F1 with 0 where a label has neither gold nor predictions."""
    pred = np.asarray(prediction, dtype=bool)
    true = _as_gold(gold, pred.shape)
    tp = (pred & true).sum(axis=0)
    denominator = pred.sum(axis=0) + true.sum(axis=0)
    return np.divide(2 * tp, denominator, out=np.zeros(pred.shape[1]), where=denominator > 0)


def tune_threshold(
    energies: np.ndarray,
    gold: np.ndarray,
    grid: np.ndarray | None = None,
    keep_top: bool = True,
) -> float:
    """One global threshold that maximises macro F1 on this (dev) data."""
    values = _as_energies(energies)
    true = _as_gold(gold, values.shape)
    candidates = threshold_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    scores = [f1_per_label(label_sets(values, t, keep_top), true).mean() for t in candidates]
    return float(candidates[int(np.argmax(scores))])


def tune_label_thresholds(
    energies: np.ndarray, gold: np.ndarray, grid: np.ndarray | None = None
) -> np.ndarray:
    """A threshold per label, each maximising that label's F1 on this (dev) data.

    Labels with no gold sample keep the highest candidate, so they fire only on
    very high energy.
    """
    values = _as_energies(energies)
    true = _as_gold(gold, values.shape)
    candidates = threshold_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    scores = np.stack(
        [f1_per_label(label_sets(values, t, keep_top=False), true) for t in candidates]
    )  # (T, C)
    best = candidates[scores.argmax(axis=0)]
    best[true.sum(axis=0) == 0] = candidates.max()
    return best


def energy_grid_for(energies: np.ndarray, max_energy: float = MAX_ENERGY) -> np.ndarray:
    """Candidate thresholds from one grid step up to ``max_energy`` or the highest energy.

    Unbounded (MSE) heads can emit values above ``max_energy``. Thresholds stay
    positive: energy 0 means "absent", so a threshold at or below it would mark
    every label as a micro-emotion.
    """
    values = _as_energies(energies)
    high = max(max_energy, float(values.max())) if values.size else max_energy
    step = DEFAULT_GRID_STEP
    return np.round(np.arange(step, high + step / 2, step), 6)
