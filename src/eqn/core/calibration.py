"""Calibrated energies: a strictly increasing map per label, fitted on dev.

After calibration an energy ``e`` means "about ``e x 10`` % of texts that get this
energy for this label carry the label in human annotation".

Each label's map blends the label's own fit with one map pooled over all labels
(partial pooling): dev has few positives of a rare label, so its own map is noisy,
and the pooled map (fitted on every text-label pair) steadies it. The own fit is
Platt scaling (a logistic curve in the energy's logit) or isotonic regression; the
form and the blend weight are chosen by cross-validated log-loss on the
calibration data itself, so nothing outside dev is consulted. The result is stored
as knots of a piecewise-linear map, and a small share (``STRICT_SHARE``) of the
identity is blended in when it is applied, which keeps every map strictly
increasing, so it never ties or reorders a label's texts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eqn.core.scale import MAX_ENERGY
from eqn.errors import InputError, ModelError

METHOD = "partial pooling: own map (platt or isotonic) blended with a pooled isotonic map"
STRICT_SHARE = 1e-3
FORMS = ("platt", "isotonic")
# Weights of a label's own map against the pooled one, searched by cross-validation.
OWN_WEIGHTS = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))
CV_FOLDS, CV_REPEATS, CV_MIN_TEXTS = 2, 3, 20
# Probabilities are kept this far from 0 and 1 when read as logits or scored by log-loss.
EPSILON = 1e-4
LOGIT_KNOTS = 201


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
    max_energy: float = MAX_ENERGY
    fitted_on: str = "dev"
    n_texts: int = 0
    # How the maps were fitted; the defaults describe maps saved before partial pooling.
    form: str = "isotonic"
    own_weight: float = 1.0
    cv_log_loss: float | None = None

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
            "form": self.form,
            "own_weight": self.own_weight,
            "cv_log_loss": self.cv_log_loss,
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
                form=str(data.get("form", "isotonic")),
                own_weight=float(data.get("own_weight", 1.0)),
                cv_log_loss=data.get("cv_log_loss"),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise ModelError(f"the calibration maps cannot be read: {error!r}") from None


def fit_label_map(energy: np.ndarray, gold: np.ndarray, max_energy: float = MAX_ENERGY) -> LabelMap:
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


# A fitted probability curve over energies, and the energies where it bends
# (isotonic knots; none for Platt, which the logit grid of ``_knots`` covers).
Curve = Callable[[np.ndarray], np.ndarray]
Fitted = tuple[Curve, tuple[float, ...]]


def _logit(energy: np.ndarray, max_energy: float) -> np.ndarray:
    p = np.clip(np.asarray(energy, dtype=np.float64) / max_energy, EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


def _fit_platt(energy: np.ndarray, gold: np.ndarray, max_energy: float) -> Fitted:
    """A logistic curve in the energy's logit, never decreasing."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(gold, dtype=bool)
    # With one class only (or a fitted slope <= 0) the curve is the label's smoothed rate.
    rate = (y.sum() + 0.5) / (len(y) + 1.0)
    slope, intercept = 0.0, float(np.log(rate / (1 - rate)))
    if 0 < y.sum() < len(y):
        model = LogisticRegression(C=1.0).fit(_logit(energy, max_energy)[:, None], y)
        if model.coef_[0, 0] > 0:
            slope, intercept = float(model.coef_[0, 0]), float(model.intercept_[0])

    def curve(values: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(slope * _logit(values, max_energy) + intercept)))

    return curve, ()


def _fit_isotonic(energy: np.ndarray, gold: np.ndarray, max_energy: float) -> Fitted:
    label_map = fit_label_map(energy, gold, max_energy)

    def curve(values: np.ndarray) -> np.ndarray:
        return np.interp(np.clip(values, 0.0, max_energy), label_map.x, label_map.y)

    return curve, label_map.x


_FITTERS = {"platt": _fit_platt, "isotonic": _fit_isotonic}


def _fit_curves(
    values: np.ndarray, truth: np.ndarray, form: str, max_energy: float
) -> tuple[list[Fitted], LabelMap]:
    """Each label's own curve, and the isotonic map pooled over every text-label pair."""
    pooled = fit_label_map(values.ravel(), truth.ravel(), max_energy)
    own = [_FITTERS[form](values[:, j], truth[:, j], max_energy) for j in range(values.shape[1])]
    return own, pooled


def _log_loss(probability: np.ndarray, truth: np.ndarray) -> float:
    p = np.clip(probability, EPSILON, 1 - EPSILON)
    return float(-np.where(truth, np.log(p), np.log(1 - p)).mean())


def choose_pooling(
    values: np.ndarray, truth: np.ndarray, max_energy: float = MAX_ENERGY, seed: int = 0
) -> tuple[str, float, float | None]:
    """The own-map form and weight with the lowest cross-validated log-loss.

    ``CV_REPEATS`` random splits into ``CV_FOLDS`` folds of the texts; each
    candidate is fitted on the other folds and scored on the held-out one. Too
    few texts to split: the label's own isotonic map, unpooled.
    """
    n = len(values)
    if n < CV_MIN_TEXTS:
        return "isotonic", 1.0, None
    rng = np.random.default_rng(seed)
    losses = {(form, w): 0.0 for form in FORMS for w in OWN_WEIGHTS}
    for _ in range(CV_REPEATS):
        folds = np.array_split(rng.permutation(n), CV_FOLDS)
        for k, held_out in enumerate(folds):
            fit_rows = np.concatenate([f for i, f in enumerate(folds) if i != k])
            x_fit, y_fit = values[fit_rows], truth[fit_rows]
            x_out, y_out = values[held_out], truth[held_out]
            for form in FORMS:
                own, pooled = _fit_curves(x_fit, y_fit, form, max_energy)
                own_p = np.stack([c(x_out[:, j]) for j, (c, _) in enumerate(own)], axis=1)
                pooled_p = np.interp(np.clip(x_out, 0, max_energy), pooled.x, pooled.y)
                for w in OWN_WEIGHTS:
                    losses[(form, w)] += _log_loss(w * own_p + (1 - w) * pooled_p, y_out)
    # Ties go to the first candidate: Platt before isotonic, less pooling before more.
    best = min(losses, key=lambda key: (round(losses[key], 12), FORMS.index(key[0]), -key[1]))
    return best[0], float(best[1]), losses[best] / (CV_REPEATS * CV_FOLDS)


def _knots(own: Fitted, pooled: LabelMap, weight: float, max_energy: float) -> LabelMap:
    """The blended curve as knots: dense in the logit (where Platt bends), plus the
    knots of both isotonic maps, so interpolating between them loses almost nothing."""
    curve, bends = own
    z = np.linspace(np.log(EPSILON / (1 - EPSILON)), np.log((1 - EPSILON) / EPSILON), LOGIT_KNOTS)
    x = np.unique(
        np.r_[0.0, max_energy / (1.0 + np.exp(-z)), pooled.x, bends, max_energy].clip(
            0.0, max_energy
        )
    )
    y = weight * curve(x) + (1 - weight) * np.interp(x, pooled.x, pooled.y)
    # Rounding noise must not make the stored knots decrease.
    y = np.maximum.accumulate(np.clip(y, 0.0, 1.0))
    return LabelMap(tuple(map(float, x)), tuple(map(float, y)))


def fit_calibration(
    energies: np.ndarray,
    gold: np.ndarray,
    labels: Sequence[str],
    max_energy: float = MAX_ENERGY,
    fitted_on: str = "dev",
) -> Calibration:
    """Fit one map per label on (dev) energies and gold labels, partially pooled."""
    values = np.asarray(energies, dtype=np.float64)
    truth = np.asarray(gold, dtype=bool)
    if values.shape != truth.shape or values.ndim != 2 or values.shape[1] != len(labels):
        raise InputError(
            f"energies {values.shape} and gold {truth.shape} must both be (texts, {len(labels)})"
        )
    if len(values) == 0:
        raise InputError("calibration needs at least one text with gold labels")
    values = np.clip(values, 0.0, max_energy)
    form, weight, cv_loss = choose_pooling(values, truth, max_energy)
    own, pooled = _fit_curves(values, truth, form, max_energy)
    maps = tuple(_knots(fitted, pooled, weight, max_energy) for fitted in own)
    return Calibration(
        tuple(labels), maps, max_energy, fitted_on, len(values), form, weight, cv_loss
    )
