import numpy as np
import pytest

from eqn.core import energy as E
from eqn.errors import InputError

# A worked example in the shape of the paper's Table 1: three samples, three labels.
# Sample 0 has label A, sample 1 labels A and C, sample 2 label B.
GOLD = np.array([[1, 0, 0], [1, 0, 1], [0, 1, 0]], dtype=bool)
# Model 1's energies for the same samples (hand-picked, including out-of-range values).
MODEL_1 = np.array([[8.7, 2.3, 0.4], [6.1, -0.5, 7.9], [1.2, 9.4, 11.3]])


def test_full_labels_map_gold_to_max_and_rest_to_zero():
    expected = np.array([[10, 0, 0], [10, 0, 10], [0, 10, 0]], dtype=np.float32)
    np.testing.assert_array_equal(E.full_labels(GOLD), expected)
    np.testing.assert_array_equal(E.full_labels(GOLD, max_energy=1.0), expected / 10)


def test_full_labels_refuse_non_positive_max():
    with pytest.raises(InputError, match="max_energy must be positive"):
        E.full_labels(GOLD, max_energy=0)


def test_label_regression_restores_gold_and_keeps_clipped_model_energies():
    expected = np.array([[10, 2.3, 0.4], [10, 0.0, 10], [1.2, 10, 10]], dtype=np.float32)
    np.testing.assert_allclose(E.label_regression(GOLD, MODEL_1), expected)


def test_label_regression_checks_shapes():
    with pytest.raises(InputError, match="gold has shape"):
        E.label_regression(GOLD[:2], MODEL_1)
    with pytest.raises(InputError, match="energies must be a 2-D array"):
        E.label_regression(GOLD, MODEL_1[0])


def test_classify_max_and_top_k():
    np.testing.assert_array_equal(E.classify_max(MODEL_1), [[1, 0, 0], [0, 0, 1], [0, 0, 1]])
    top2 = E.classify_top_k(MODEL_1, 2)
    np.testing.assert_array_equal(top2, [[1, 1, 0], [1, 0, 1], [0, 1, 1]])
    per_sample = E.classify_top_k(MODEL_1, [1, 2, 0])
    np.testing.assert_array_equal(per_sample, [[1, 0, 0], [1, 0, 1], [0, 0, 0]])


def test_top_k_breaks_ties_by_label_order():
    np.testing.assert_array_equal(E.classify_top_k(np.array([[5.0, 5.0, 5.0]]), 1), [[1, 0, 0]])


def test_top_k_rejects_k_out_of_range():
    with pytest.raises(InputError, match="k must be between 0"):
        E.classify_top_k(MODEL_1, 4)


def test_classify_threshold_keep_top_never_leaves_a_sample_empty():
    low = np.array([[0.5, 0.2, 0.1], [3.0, 6.0, 0.0]])
    np.testing.assert_array_equal(
        E.classify_threshold(low, 5.0, keep_top=False), [[0, 0, 0], [0, 1, 0]]
    )
    np.testing.assert_array_equal(
        E.classify_threshold(low, 5.0, keep_top=True), [[1, 0, 0], [0, 1, 0]]
    )


def test_tune_threshold_finds_the_separating_value():
    energies = np.array([[9.0, 1.0], [2.0, 8.0], [7.0, 6.5], [1.0, 0.5]])
    gold = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=bool)
    threshold = E.tune_threshold(energies, gold, keep_top=False)
    predictions = E.classify_threshold(energies, threshold, keep_top=False)
    np.testing.assert_array_equal(predictions, gold)
    assert 2.0 < threshold <= 6.5


def test_tune_label_thresholds_per_label():
    energies = np.array([[9.0, 1.0], [2.0, 4.0], [7.0, 3.5], [1.0, 0.5]])
    gold = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=bool)
    thresholds = E.tune_label_thresholds(energies, gold)
    assert 2.0 < thresholds[0] <= 7.0
    assert 1.0 < thresholds[1] <= 3.5
    np.testing.assert_array_equal(E.classify_threshold(energies, thresholds, keep_top=False), gold)


def test_label_without_gold_gets_the_highest_threshold():
    energies = np.array([[9.0, 1.0], [2.0, 4.0]])
    gold = np.array([[1, 0], [0, 0]], dtype=bool)
    assert E.tune_label_thresholds(energies, gold)[1] == pytest.approx(10.0)


def test_energy_grid_covers_high_values_and_stays_positive():
    grid = E.energy_grid_for(MODEL_1)
    assert grid.min() > 0 and grid.max() >= 11.3


def test_mix_with_gold_keeps_a_share_of_the_full_labels():
    from eqn.core.energy import mix_with_gold

    targets = np.array([[10.0, 4.0, 2.0]], dtype=np.float32)
    gold = np.array([[True, False, False]])
    np.testing.assert_allclose(mix_with_gold(targets, gold, 0.5), [[10.0, 2.0, 1.0]])
    np.testing.assert_allclose(mix_with_gold(targets, gold, 0.0), targets)
    with pytest.raises(InputError, match="gold weight must be from 0 to 1, got 2"):
        mix_with_gold(targets, gold, 2)
