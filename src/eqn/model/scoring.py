"""Scored texts: what the model's one scoring step (:meth:`InferenceModel.score`) returns.

Every read of energies goes through that step (``energies``, ``predict``,
``annotate``, files, the service, Ray actors, explanations), so one rule covers
empty texts (all-zero energies and the flag ``empty``) and texts cut to the
model's length (the flag ``truncated``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from eqn.core.annotation import AnnotatedEnergies, annotate_energies
from eqn.data.formats import MISSING
from eqn.errors import InputError

EMPTY_FLAG = "empty"
TRUNCATED_FLAG = "truncated"


def is_missing(value: Any) -> bool:
    """None, NaN or a key a JSONL record lacks: a cell with no text in it."""
    return (
        value is None
        or value is MISSING
        or value is pd.NA
        or (isinstance(value, float) and np.isnan(value))
    )


def as_text(value: Any) -> str:
    """A cell as text; a missing one is empty."""
    return "" if is_missing(value) else str(value)


def check_unicode(
    texts: Sequence[str], fix: str = "give the input's encoding, or fix that text"
) -> None:
    """Refuse a text holding a lone UTF-16 surrogate (what an undecodable byte becomes
    when read with ``surrogateescape``): no tokenizer can read it. ``fix``: what to do."""
    for index, text in enumerate(texts):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise InputError(
                f"text {index + 1} ({text[:40]!r}) is not valid Unicode: it holds "
                f"{text[error.start]!r} (a lone UTF-16 surrogate, often an undecodable byte) "
                f"at character {error.start + 1}; {fix}",
                parameter="encoding",
            ) from None


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

    def with_calibration(self, apply: Callable[[np.ndarray], np.ndarray]) -> ScoredTexts:
        """The same texts with ``apply`` mapping their uncalibrated energies (empty stay 0)."""
        if self.calibrated:
            return self
        energies = np.zeros_like(self.energies)
        keep = ~self.empty
        if keep.any():
            energies[keep] = apply(self.energies[keep])
        return ScoredTexts(self.texts, energies, self.empty, self.flags, calibrated=True)

    def annotate(
        self, labels: Sequence[str], threshold: float, raw: bool = False, keep_top: bool = True
    ) -> AnnotatedEnergies:
        """Eq. 8 at ``threshold``; ``raw`` keeps every energy in the shown columns."""
        return annotate_energies(
            self.texts, self.energies, labels, threshold, raw, self.empty, self.flags, keep_top
        )
