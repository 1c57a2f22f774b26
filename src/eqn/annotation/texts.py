"""Annotation of texts in memory, and the summary of an annotation run.

Scoring belongs to the model (:meth:`eqn.model.inference.InferenceModel.score`,
one rule for empty and truncated texts); :func:`annotate_texts` scores and applies
eq. 8 in one call, for files and scripts.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from eqn.core.annotation import FLAG_COLUMN, AnnotatedEnergies
from eqn.errors import InputError, OutputExistsError
from eqn.model.scoring import EMPTY_FLAG, TRUNCATED_FLAG, ScoredTexts

if TYPE_CHECKING:
    from eqn.model.inference import InferenceModel

T = TypeVar("T")

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
            empty=sum(flag == EMPTY_FLAG for flag in batch.flags),
            truncated=sum(flag == TRUNCATED_FLAG for flag in batch.flags),
        )

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @classmethod
    def of_each(
        cls,
        items: Sequence[T],
        annotate_one: Callable[[T], AnnotationSummary],
        several: bool,
    ) -> AnnotationSummary:
        """Annotate each item (a file) and add up what was done. With several, one that
        fails is listed in ``failed`` with its error and the others go on; a single one
        raises."""
        total = cls()
        started = time.perf_counter()
        for item in items:
            try:
                total.add(annotate_one(item))
            except (InputError, OutputExistsError) as error:
                if not several:
                    raise
                total.failed.append(f"{item}: {error}")
        total.seconds = time.perf_counter() - started
        return total

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
        self.skipped += other.skipped
        self.failed += other.failed
        self.provenance = other.provenance or self.provenance


def score_texts(
    model: InferenceModel,
    texts: Sequence[Any],
    batch_size: int | None = None,
    calibrated: bool = True,
) -> ScoredTexts:
    """Deprecated alias of :meth:`InferenceModel.score` (removed in 0.4)."""
    warnings.warn(
        "score_texts(model, ...) is deprecated; use model.score(...)", DeprecationWarning, 2
    )
    return model.score(texts, batch_size, calibrated)


def resolve_threshold(
    model: InferenceModel, threshold: float | None, calibrated: bool = True
) -> float:
    """Deprecated alias of :meth:`InferenceModel.resolve_threshold` (removed in 0.4)."""
    warnings.warn(
        "resolve_threshold(model, ...) is deprecated; use model.resolve_threshold(...)",
        DeprecationWarning,
        2,
    )
    return model.resolve_threshold(threshold, calibrated)


def annotate_texts(
    model: InferenceModel,
    texts: Sequence[Any],
    threshold: float | None = None,
    raw: bool = False,
    batch_size: int | None = None,
    calibrated: bool = True,
) -> AnnotatedEnergies:
    """Annotate texts with ``model``: :meth:`InferenceModel.score`, then eq. 8 at
    ``threshold`` (default: the model's tuned h for the kind of energies asked for)."""
    return model.annotate_scored(model.score(texts, batch_size, calibrated), threshold, raw)
