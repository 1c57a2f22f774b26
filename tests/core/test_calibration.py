import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from eqn.core.calibration import Calibration, LabelMap, fit_calibration
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
    with pytest.raises(ModelError, match="cannot be read"):
        Calibration.from_dict({"maps": {}}, LABELS)
    with pytest.raises(ModelError, match="non-decreasing"):
        LabelMap((1.0, 0.0), (0.0, 1.0))
    with pytest.raises(InputError, match="must both be"):
        fit_calibration(energies, gold[:, :1], LABELS)
