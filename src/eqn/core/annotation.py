"""Annotation (paper eq. 8), written once.

Energies at or above a threshold h are kept; the top one is the macro-emotion,
the other kept labels are micro-emotions. :func:`label_sets` is the rule itself,
on float energies; every surface (Python, CLI files, HTTP, the web page) builds
its output from :func:`annotate_energies`, so they cannot disagree. Rounding
happens only where numbers are shown or written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eqn.core.scale import MAX_ENERGY
from eqn.errors import InputError

DECIMALS = 2  # energies are written and shown with two decimals
FLAG_COLUMN = "eqn_flag"


def check_threshold(threshold: float, max_energy: float = MAX_ENERGY) -> float:
    """A usable threshold: finite and in [0, ``max_energy``]."""
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise InputError(
            f"the threshold must be a number from 0 to {max_energy:g}, got {threshold!r}",
            parameter="threshold",
        ) from None
    if not math.isfinite(value) or not 0.0 <= value <= max_energy:
        raise InputError(
            f"the threshold must be a finite number from 0 to {max_energy:g}, got {threshold!r}",
            parameter="threshold",
        )
    return value


def _thresholds_for(thresholds: float | Sequence[float] | np.ndarray, n_labels: int) -> np.ndarray:
    values = np.asarray(thresholds, dtype=np.float64)
    if values.ndim == 0:
        return np.full(n_labels, float(values))
    if values.shape != (n_labels,):
        raise InputError(
            f"per-label thresholds need one value per label ({n_labels}), got shape {values.shape}",
            parameter="threshold",
        )
    return values


def top_labels(energies: np.ndarray) -> np.ndarray:
    """Index of the highest energy per row (first label wins ties): the macro-emotion."""
    values = np.asarray(energies, dtype=np.float64)
    return values.argmax(axis=1) if len(values) else np.zeros(0, dtype=np.int64)


def label_sets(
    energies: np.ndarray,
    threshold: float | Sequence[float] | np.ndarray,
    keep_top: bool = True,
) -> np.ndarray:
    """Eq. 8: which labels each text keeps, as a boolean matrix.

    A label is kept when its energy is at or above its threshold (one value for
    all labels, or one per label) and above 0, since 0 means absent. With
    ``keep_top`` the top label is always kept, so every text has a macro-emotion.
    """
    values = np.asarray(energies, dtype=np.float64)
    if values.ndim != 2:
        raise InputError(f"energies must be a 2-D array (texts, labels), got {values.shape}")
    h = _thresholds_for(threshold, values.shape[1])
    kept = (values >= h[None, :]) & (values > 0)
    if keep_top and len(values):
        kept[np.arange(len(values)), top_labels(values)] = True
    return kept


@dataclass(frozen=True)
class MicroEmotion:
    label: str
    energy: float


@dataclass(frozen=True)
class Annotation:
    """One text's annotation, the schema of every surface.

    ``energies`` are the shown energies: thresholded (labels not kept read 0)
    unless the annotation was made raw. ``flag`` is ``empty`` or ``truncated``.
    """

    text: str
    energies: dict[str, float]
    macro_emotion: str
    micro_emotions: tuple[MicroEmotion, ...] = ()
    flag: str = ""

    def to_dict(self, decimals: int | None = DECIMALS) -> dict[str, Any]:
        def shown(value: float) -> float:
            return round(value, decimals) if decimals is not None else value

        return {
            "text": self.text,
            "energies": {label: shown(v) for label, v in self.energies.items()},
            "macro_emotion": self.macro_emotion,
            "micro_emotions": [
                {"label": m.label, "energy": shown(m.energy)} for m in self.micro_emotions
            ],
            "flag": self.flag,
        }


@dataclass(frozen=True)
class AnnotatedEnergies:
    """Eq. 8 applied to a batch: what every output format is built from."""

    texts: list[str]
    labels: tuple[str, ...]
    energies: np.ndarray  # float energies as the model gave them (shown columns below)
    kept: np.ndarray  # label_sets(): bool (texts, labels)
    top: np.ndarray  # macro-emotion index per text
    empty: np.ndarray  # texts with nothing to annotate: no macro-emotion
    raw: bool
    flags: list[str] = field(default_factory=list)

    @property
    def shown(self) -> np.ndarray:
        """Energies as written: all of them when raw, else only the kept ones."""
        return self.energies.copy() if self.raw else np.where(self.kept, self.energies, 0.0)

    def micro_emotions(self, row: int) -> list[tuple[str, float]]:
        """Kept labels other than the macro-emotion, highest energy first."""
        if self.empty[row]:
            return []
        values = self.energies[row]
        order = np.argsort(-values, kind="stable")
        top = self.top[row]
        return [(self.labels[j], float(values[j])) for j in order if j != top and self.kept[row, j]]

    def macro_emotion(self, row: int) -> str:
        return "" if self.empty[row] else self.labels[self.top[row]]

    def records(self) -> list[Annotation]:
        shown = self.shown
        return [
            Annotation(
                text=text,
                energies={label: float(v) for label, v in zip(self.labels, shown[i], strict=True)},
                macro_emotion=self.macro_emotion(i),
                micro_emotions=tuple(MicroEmotion(lbl, e) for lbl, e in self.micro_emotions(i)),
                flag=self.flags[i] if self.flags else "",
            )
            for i, text in enumerate(self.texts)
        ]

    def frame(self) -> Any:
        """The annotation table: text, an energy column per label (2 decimals), the
        macro-emotion, the micro-emotions as ``label:energy;label:energy`` and the flag."""
        import pandas as pd

        frame = pd.DataFrame(np.round(self.shown, DECIMALS), columns=list(self.labels))
        frame.insert(0, "text", list(self.texts))
        frame["macro_emotion"] = [self.macro_emotion(i) for i in range(len(self.texts))]
        frame["micro_emotions"] = [
            format_micro_emotions(self.micro_emotions(i)) for i in range(len(self.texts))
        ]
        frame[FLAG_COLUMN] = self.flags or [""] * len(self.texts)
        return frame


def annotate_energies(
    texts: Sequence[str],
    energies: np.ndarray,
    labels: Sequence[str],
    threshold: float | Sequence[float] | np.ndarray,
    raw: bool = False,
    empty: np.ndarray | None = None,
    flags: Sequence[str] | None = None,
    keep_top: bool = True,
) -> AnnotatedEnergies:
    """Apply eq. 8 to a batch of energies; ``empty`` marks texts without content.

    ``keep_top`` (the model's ``config.keep_top``) keeps the top label even below h.
    """
    values = np.asarray(energies, dtype=np.float64)
    if values.shape != (len(texts), len(labels)):
        raise InputError(
            f"energies have shape {values.shape}, expected ({len(texts)}, {len(labels)})"
        )
    no_text = np.zeros(len(texts), dtype=bool) if empty is None else np.asarray(empty, dtype=bool)
    kept = label_sets(values, threshold, keep_top=keep_top)
    kept[no_text] = False
    return AnnotatedEnergies(
        texts=list(texts),
        labels=tuple(labels),
        energies=values,
        kept=kept,
        top=top_labels(values),
        empty=no_text,
        raw=raw,
        flags=list(flags) if flags is not None else [],
    )


def format_micro_emotions(pairs: Sequence[tuple[str, float]]) -> str:
    """``joy:3.21;love:1.40``: readable, and easy to split again."""
    return ";".join(f"{label}:{value:.{DECIMALS}f}" for label, value in pairs)
