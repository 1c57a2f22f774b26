"""Calibrated energies: a strictly increasing map per label, fitted on dev.

After calibration an energy ``e`` means "about ``e x 10`` % of texts that get this
energy for this label carry the label in human annotation". The map per label is
isotonic regression of gold on the model's energy, made strictly increasing so it
never ties or reorders a label's texts: the isotonic blocks are joined by straight
lines through their centres, and a small share (``STRICT_SHARE``) of the identity
is blended in, which keeps the map strictly increasing everywhere, including
beyond the first and last block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eqn.errors import InputError, ModelError

METHOD = "isotonic, interpolated, strictly increasing"
STRICT_SHARE = 1e-3


@dataclass(frozen=True)
class LabelMap:
    """A piecewise-linear, non-decreasing map from energy (0-10) to probability (0-1)."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or len(self.x) < 1:
            raise ModelError("a calibration map needs as many x as y knots, at least one")
        if any(b < a for a, b in zip(self.x, self.x[1:], strict=False)) or any(
            b < a for a, b in zip(self.y, self.y[1:], strict=False)
        ):
            raise ModelError("a calibration map's knots must be non-decreasing")


@dataclass(frozen=True)
class Calibration:
    """One strictly increasing map per label; energies in and out are on 0..max_energy."""

    labels: tuple[str, ...]
    maps: tuple[LabelMap, ...]
    max_energy: float = 10.0
    fitted_on: str = "dev"
    n_texts: int = 0

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.maps):
            raise ModelError(f"{len(self.labels)} labels but {len(self.maps)} calibration maps")

    def apply(self, energies: np.ndarray) -> np.ndarray:
        """Calibrated energies, same shape, strictly increasing in each label's energy."""
        values = np.clip(np.asarray(energies, dtype=np.float64), 0.0, self.max_energy)
        if values.ndim != 2 or values.shape[1] != len(self.maps):
            raise InputError(
                f"energies of shape {values.shape} do not fit {len(self.maps)} calibration maps"
            )
        out = np.empty_like(values)
        scale = self.max_energy
        for j, label_map in enumerate(self.maps):
            probability = np.interp(values[:, j], label_map.x, label_map.y)
            identity = values[:, j] / scale
            out[:, j] = scale * ((1 - STRICT_SHARE) * probability + STRICT_SHARE * identity)
        return out.astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": METHOD,
            "strict_share": STRICT_SHARE,
            "max_energy": self.max_energy,
            "fitted_on": self.fitted_on,
            "n_texts": self.n_texts,
            "maps": {
                label: {"x": list(m.x), "y": list(m.y)}
                for label, m in zip(self.labels, self.maps, strict=True)
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], labels: Sequence[str]) -> Calibration:
        try:
            maps = data["maps"]
            return cls(
                labels=tuple(labels),
                maps=tuple(
                    LabelMap(tuple(map(float, maps[lbl]["x"])), tuple(map(float, maps[lbl]["y"])))
                    for lbl in labels
                ),
                max_energy=float(data.get("max_energy", 10.0)),
                fitted_on=str(data.get("fitted_on", "dev")),
                n_texts=int(data.get("n_texts", 0)),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ModelError(f"the calibration maps cannot be read: {error!r}") from None


def fit_label_map(energy: np.ndarray, gold: np.ndarray, max_energy: float = 10.0) -> LabelMap:
    """Isotonic regression of gold (0/1) on energy, as knots through its blocks' centres."""
    from sklearn.isotonic import IsotonicRegression

    x = np.clip(np.asarray(energy, dtype=np.float64), 0.0, max_energy)
    y = np.asarray(gold, dtype=np.float64)
    if len(x) == 0:
        return LabelMap((0.0, max_energy), (0.0, 1.0))
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(x, y).predict(x)
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], fitted[order]
    # Blocks of equal fitted value become one knot at their mean energy.
    starts = np.flatnonzero(np.r_[True, np.diff(ys) != 0])
    ends = np.r_[starts[1:], len(ys)]
    knot_x = [float(xs[a:b].mean()) for a, b in zip(starts, ends, strict=True)]
    knot_y = [float(ys[a]) for a in starts]
    return LabelMap(tuple(knot_x), tuple(knot_y))


def fit_calibration(
    energies: np.ndarray,
    gold: np.ndarray,
    labels: Sequence[str],
    max_energy: float = 10.0,
    fitted_on: str = "dev",
) -> Calibration:
    """Fit one map per label on (dev) energies and gold labels."""
    values = np.asarray(energies, dtype=np.float64)
    truth = np.asarray(gold, dtype=bool)
    if values.shape != truth.shape or values.ndim != 2 or values.shape[1] != len(labels):
        raise InputError(
            f"energies {values.shape} and gold {truth.shape} must both be (texts, {len(labels)})"
        )
    if len(values) == 0:
        raise InputError("calibration needs at least one text with gold labels")
    maps = tuple(fit_label_map(values[:, j], truth[:, j], max_energy) for j in range(len(labels)))
    return Calibration(tuple(labels), maps, max_energy, fitted_on, len(values))
