"""The Table 3 report says plainly whether EQN beat or trailed the baseline."""

from __future__ import annotations

from eqn.experiments.report import comparison_markdown


def _comparison(s: float, eqn: float) -> dict:
    rows = [
        {"backbone": "transformer", "model": model, "accuracy_by_max": value, "train_seconds": 1}
        for model, value in (("S", s), ("CoEQN", 0.9), ("EQN", eqn))
    ]
    return {
        "baseline": "S",
        "rows": rows,
        "multilabel": False,
        "epochs": 2,
        "dataset": "mine",
        "seed": 0,
        "sizes": {"train": 10},
    }


def test_a_trailing_eqn_is_reported_with_its_gap():
    text = comparison_markdown(_comparison(0.9115, 0.9060))
    assert "- transformer: EQN trails S by 0.55 points of accuracy by max()." in text
    assert "within seed noise" in text


def test_a_leading_eqn_is_reported_too():
    assert "EQN beats S by 1.00 points" in comparison_markdown(_comparison(0.90, 0.91))
