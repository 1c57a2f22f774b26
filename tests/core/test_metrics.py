import numpy as np
import pytest
from sklearn.metrics import f1_score

from eqn.core import energy as E
from eqn.core import metrics as M
from eqn.errors import InputError

LABELS = ["a", "b", "c"]
# Four samples; sample 3 has two gold labels. Label c never appears in gold.
GOLD = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 1, 0]], dtype=bool)
ENERGIES = np.array([[9.0, 1.0, 0.5], [6.0, 5.0, 0.0], [8.0, 2.0, 7.0], [0.0, 3.0, 1.0]])


def test_top_k_i_uses_the_gold_label_count():
    prediction = M.top_k_i_predictions(ENERGIES, GOLD)
    np.testing.assert_array_equal(prediction, [[1, 0, 0], [1, 0, 0], [1, 0, 1], [0, 1, 0]])


def test_sample_prf_by_hand():
    prediction = M.top_k_i_predictions(ENERGIES, GOLD)
    result = M.sample_prf(prediction, GOLD)
    # Per sample P = R = 1, 0, 0.5, 1 -> mean 0.625.
    assert result["precision"] == pytest.approx(0.625)
    assert result["recall"] == pytest.approx(0.625)
    assert result["f1"] == pytest.approx(0.625)


def test_sample_with_empty_prediction_counts_zero_precision():
    prediction = np.array([[0, 0, 0], [0, 1, 0]], dtype=bool)
    gold = np.array([[1, 0, 0], [0, 1, 0]], dtype=bool)
    result = M.sample_prf(prediction, gold)
    assert result["precision"] == pytest.approx(0.5)
    assert result["recall"] == pytest.approx(0.5)
    assert result["f1"] == pytest.approx(0.5)


def test_per_label_prf_with_a_label_without_gold():
    prediction = M.top_k_i_predictions(ENERGIES, GOLD)
    result = M.per_label_prf(prediction, GOLD, LABELS)
    a, b, c = result["labels"]
    # a: predicted in 0,1,2; gold in 0,2 -> P 2/3, R 1, F1 0.8
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))
    # b: predicted in 3; gold in 1,2,3 -> P 1, R 1/3, F1 0.5
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((1.0, 1 / 3, 0.5))
    # c: predicted once, never gold -> all 0
    assert (c["precision"], c["recall"], c["f1"], c["support"]) == (0.0, 0.0, 0.0, 0)
    assert result["macro"]["f1"] == pytest.approx((0.8 + 0.5) / 3)
    assert result["std"]["f1"] == pytest.approx(np.std([0.8, 0.5, 0.0]))


def test_hits_by_label_count_by_hand():
    result = M.hits_by_label_count(ENERGIES, GOLD)
    one, two = result["groups"]
    assert one == {
        "gold_labels_per_sample": 1,
        "samples": 3,
        "gold_labels": 3,
        "hits": 2,
        "hit_rate": pytest.approx(2 / 3),
    }
    assert two == {
        "gold_labels_per_sample": 2,
        "samples": 1,
        "gold_labels": 2,
        "hits": 1,
        "hit_rate": pytest.approx(0.5),
    }
    assert result["total"]["hit_rate"] == pytest.approx(3 / 5)


def test_top_n_hit_rates_on_single_label_samples():
    result = M.top_n_hit_rates(ENERGIES, GOLD)
    # Single-label samples 0, 1, 3: gold ranks 1, 2, 1.
    assert result["samples"] == 3
    assert result["top1"] == pytest.approx(2 / 3)
    assert result["top2"] == pytest.approx(1.0)
    assert result["top3"] == pytest.approx(1.0)


def test_accuracy_by_max_on_single_label_samples():
    assert M.accuracy_by_max(ENERGIES, GOLD) == pytest.approx(2 / 3)
    assert M.accuracy_by_max(ENERGIES[:0], GOLD[:0]) == 0.0


def test_thresholded_metrics_match_scikit_learn():
    prediction = E.classify_threshold(ENERGIES, 4.0, keep_top=True)
    result = M.thresholded_metrics(prediction, GOLD, LABELS)
    assert result["macro"]["f1"] == pytest.approx(
        f1_score(GOLD, prediction, average="macro", zero_division=0)
    )
    assert result["micro"]["f1"] == pytest.approx(f1_score(GOLD, prediction, average="micro"))
    # Sample 0 -> {a} and sample 3 -> {b} (kept as top label) match exactly; 1 and 2 do not.
    assert result["exact_match"] == pytest.approx(0.5)


def test_tuning_macro_f1_agrees_with_scikit_learn():
    rng = np.random.default_rng(0)
    gold = rng.random((50, 4)) < 0.3
    energies = gold * 6 + rng.random((50, 4)) * 5
    prediction = E.classify_threshold(energies, 5.0, keep_top=False)
    ours = E.f1_per_label(prediction, gold).mean()
    assert ours == pytest.approx(f1_score(gold, prediction, average="macro", zero_division=0))


def test_honest_protocol_tunes_on_dev_only():
    rng = np.random.default_rng(1)
    dev_gold = rng.random((40, 3)) < 0.4
    dev_energies = dev_gold * 5 + rng.random((40, 3)) * 4
    result = M.honest_protocol(ENERGIES, GOLD, dev_energies, dev_gold, LABELS)
    expected = E.tune_threshold(dev_energies, dev_gold, grid=E.energy_grid_for(dev_energies))
    assert result["global"]["threshold"] == pytest.approx(expected)
    assert set(result["per_label"]["thresholds"]) == set(LABELS)


def test_pearson_matrix_handles_constant_labels():
    energies = np.array([[1.0, 2.0, 5.0], [2.0, 4.0, 5.0], [3.0, 6.5, 5.0]])
    matrix = M.pearson_matrix(energies)
    assert matrix.shape == (3, 3)
    assert matrix[0, 1] == pytest.approx(np.corrcoef(energies[:, 0], energies[:, 1])[0, 1])
    assert matrix[0, 2] == 0.0 and matrix[2, 2] == 1.0


def test_evaluate_energies_and_headline():
    result = M.evaluate_energies(ENERGIES, GOLD, LABELS, ENERGIES, GOLD)
    assert result["paper"]["assumes_gold_label_count"] is True
    row = M.headline(result)
    assert set(row) >= {"topk_macro_f1", "dev_tuned_macro_f1", "topk_hit_rate"}


def test_shape_mismatch_is_refused():
    with pytest.raises(InputError, match="must be 2-D arrays of the same shape"):
        M.sample_prf(ENERGIES, GOLD[:2])
    with pytest.raises(InputError, match="label names for 3 columns"):
        M.per_label_prf(GOLD, GOLD, ["a"])
