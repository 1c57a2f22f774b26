import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from eqn.core.calibration import (
    CV_MIN_TEXTS,
    Calibration,
    LabelMap,
    _log_loss,
    fit_calibration,
)
from eqn.core.metrics import calibration as reliability
from eqn.errors import InputError, ModelError

LABELS = ("a", "b")


def synthetic(n=4000, seed=0):
    """Energies whose true probability is (energy / 10) ** 2: over-confident."""
    rng = np.random.default_rng(seed)
    energies = rng.uniform(0, 10, size=(n, 2))
    gold = rng.random((n, 2)) < (energies / 10) ** 2
    return energies, gold


def test_fitted_maps_calibrate_held_out_energies():
    energies, gold = synthetic()
    calibration = fit_calibration(energies, gold, LABELS)
    test_energies, test_gold = synthetic(seed=1)
    before = reliability(test_energies, test_gold)["ece"]
    after = reliability(calibration.apply(test_energies), test_gold)["ece"]
    assert before > 0.1 and after < 0.03


@settings(max_examples=50, deadline=None)
@given(
    energies=arrays(np.float64, (60, 2), elements=st.floats(0, 10, allow_nan=False)),
    gold=arrays(np.bool_, (60, 2)),
)
def test_maps_are_strictly_increasing_and_on_the_scale(energies, gold):
    calibration = fit_calibration(energies, gold, LABELS)
    grid = np.linspace(-1, 11, 400)
    out = calibration.apply(np.stack([grid, grid], axis=1))
    assert out.min() >= 0 and out.max() <= 10
    inside = (grid >= 0) & (grid <= 10)
    assert (np.diff(out[inside], axis=0) > 0).all()  # never ties or reorders a label's texts


def test_round_trip_and_checks():
    energies, gold = synthetic(200)
    calibration = fit_calibration(energies, gold, LABELS, fitted_on="mine:dev")
    again = Calibration.from_dict(calibration.to_dict(), LABELS)
    np.testing.assert_array_equal(again.apply(energies), calibration.apply(energies))
    assert again.fitted_on == "mine:dev" and again.n_texts == 200
    assert (again.form, again.own_weight) == (calibration.form, calibration.own_weight)
    with pytest.raises(ModelError, match="cannot be read"):
        Calibration.from_dict({"maps": {}}, LABELS)
    with pytest.raises(ModelError, match="non-decreasing"):
        LabelMap((1.0, 0.0), (0.0, 1.0))
    with pytest.raises(InputError, match="must both be"):
        fit_calibration(energies, gold[:, :1], LABELS)


def test_maps_saved_before_partial_pooling_still_load():
    saved = {
        "method": "isotonic, interpolated, strictly increasing",
        "maps": {
            "a": {"x": [0.0, 10.0], "y": [0.0, 1.0]},
            "b": {"x": [0.0, 10.0], "y": [0.0, 0.5]},
        },
    }
    calibration = Calibration.from_dict(saved, LABELS)
    assert (calibration.form, calibration.own_weight) == ("isotonic", 1.0)
    assert calibration.apply(np.array([[5.0, 5.0]]))[0, 1] == pytest.approx(2.5, abs=0.01)


def rare_and_common(n, seed):
    """Two labels whose energies mean the same (true probability (e/10) ** 2), one rare."""
    rng = np.random.default_rng(seed)
    energies = np.c_[rng.uniform(0, 10, n), rng.uniform(0, 4, n)]
    gold = rng.random((n, 2)) < (energies / 10) ** 2
    return energies, gold


def test_a_rare_label_borrows_from_the_pooled_map():
    energies, gold = rare_and_common(300, seed=0)
    assert gold[:, 1].sum() < 30  # few positives: the rare label's own map is noisy
    pooled = fit_calibration(energies, gold, LABELS)
    assert pooled.form in ("platt", "isotonic") and pooled.own_weight < 1.0
    own_only = Calibration(
        LABELS, tuple(LabelMap(*_isotonic_knots(energies[:, j], gold[:, j])) for j in range(2))
    )
    held_energies, held_gold = rare_and_common(20000, seed=1)
    assert _log_loss(pooled.apply(held_energies) / 10, held_gold) < _log_loss(
        own_only.apply(held_energies) / 10, held_gold
    )


def _isotonic_knots(energy, gold):
    from eqn.core.calibration import fit_label_map

    label_map = fit_label_map(energy, gold)
    return label_map.x, label_map.y


def test_too_few_texts_to_cross_validate_keep_their_own_isotonic_map():
    energies, gold = synthetic(CV_MIN_TEXTS - 1)
    calibration = fit_calibration(energies, gold, LABELS)
    assert (calibration.form, calibration.own_weight, calibration.cv_log_loss) == (
        "isotonic",
        1.0,
        None,
    )
