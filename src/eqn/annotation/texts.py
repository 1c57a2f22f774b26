"""Annotation of texts in memory: batching, empty and truncated texts, eq. 8.

Every surface (``EQN.annotate``, files, the HTTP service) annotates through
:func:`annotate_texts`, which applies :func:`eqn.core.annotation.annotate_energies`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from eqn.core.annotation import (
    FLAG_COLUMN,
    AnnotatedEnergies,
    annotate_energies,
    check_threshold,
)
from eqn.errors import InputError

if TYPE_CHECKING:
    from eqn.model.inference import InferenceModel

__all__ = [
    "FLAG_COLUMN",
    "AnnotationSummary",
    "ScoredTexts",
    "annotate_texts",
    "resolve_threshold",
    "score_texts",
]


@dataclass
class AnnotationSummary:
    """What an annotation run did, for the closing summary line."""

    rows: int = 0
    empty: int = 0
    truncated: int = 0
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # "file: error", for folder runs
    skipped: list[str] = field(default_factory=list)  # outputs already complete

    @classmethod
    def of(cls, batch: AnnotatedEnergies) -> AnnotationSummary:
        return cls(
            rows=len(batch.texts),
            empty=sum(flag == "empty" for flag in batch.flags),
            truncated=sum(flag == "truncated" for flag in batch.flags),
        )

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (
            f"{self.rows} rows in {self.seconds:.1f}s ({self.rows_per_second:.0f} rows/s); "
            f"{self.empty} empty (all-zero energies, flagged), "
            f"{self.truncated} truncated to the model's length"
        )

    def add(self, other: AnnotationSummary) -> None:
        self.rows += other.rows
        self.empty += other.empty
        self.truncated += other.truncated
        self.outputs += other.outputs
        self.provenance = other.provenance or self.provenance


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


@dataclass(frozen=True)
class ScoredTexts:
    """Texts with their energies, before eq. 8: empty texts score 0 and carry a flag."""

    texts: list[str]
    energies: np.ndarray
    empty: np.ndarray
    flags: list[str]
    calibrated: bool = True

    def rows(self, start: int, stop: int) -> ScoredTexts:
        return ScoredTexts(
            self.texts[start:stop],
            self.energies[start:stop],
            self.empty[start:stop],
            self.flags[start:stop],
            self.calibrated,
        )

    def calibrated_by(self, model: InferenceModel) -> ScoredTexts:
        """The same texts with the model's calibrated energies (empty texts stay 0)."""
        if self.calibrated or not model.is_calibrated:
            return self
        energies = np.zeros_like(self.energies)
        keep = ~self.empty
        if keep.any():
            energies[keep] = model.calibration_.apply(self.energies[keep])
        return ScoredTexts(self.texts, energies, self.empty, self.flags, calibrated=True)

    def annotate(
        self, labels: Sequence[str], threshold: float, raw: bool = False
    ) -> AnnotatedEnergies:
        return annotate_energies(
            self.texts, self.energies, labels, threshold, raw, self.empty, self.flags
        )


def score_texts(
    model: InferenceModel,
    texts: Sequence[Any],
    batch_size: int | None = None,
    calibrated: bool = True,
) -> ScoredTexts:
    """Energies of ``texts`` (calibrated unless asked otherwise, or the model has no
    calibration); empty or missing ones get all-zero energies and the flag ``empty``,
    texts cut to the model's length the flag ``truncated``."""
    if batch_size is not None and batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}", parameter="batch_size")
    values = ["" if _is_missing(t) else str(t) for t in texts]
    empty = np.array([not v.strip() for v in values], dtype=bool)
    energies = np.zeros((len(values), len(model.labels)), dtype=np.float32)
    flags = np.array([""] * len(values), dtype=object)
    flags[empty] = "empty"
    keep = np.flatnonzero(~empty)
    if len(keep):
        items, lengths = model.encode([values[i] for i in keep])
        limit = getattr(model.config.backbone_options, "max_length", None)
        if limit is not None:
            flags[keep[np.asarray(lengths) >= limit]] = "truncated"
        energies[keep] = model.energies_of(items, lengths, batch_size, calibrated=False)
    scored = ScoredTexts(values, energies, empty, flags.tolist(), calibrated=False)
    return scored.calibrated_by(model) if calibrated else scored


def resolve_threshold(
    model: InferenceModel, threshold: float | None, calibrated: bool = True
) -> float:
    """The model's tuned threshold (for calibrated energies or not), or a checked one."""
    if threshold is None:
        return model.threshold_for(calibrated)
    return check_threshold(threshold, model.config.max_energy)


def annotate_texts(
    model: InferenceModel,
    texts: Sequence[Any],
    threshold: float | None = None,
    raw: bool = False,
    batch_size: int | None = None,
    calibrated: bool = True,
) -> AnnotatedEnergies:
    """Annotate texts with ``model`` (eq. 8 at ``threshold``, default the model's tuned h
    for calibrated or uncalibrated energies)."""
    h = resolve_threshold(model, threshold, calibrated)
    return score_texts(model, texts, batch_size, calibrated).annotate(model.labels, h, raw)
