"""The model against the plain classifier on the user's dev split, and --select best."""

import pytest

from eqn.errors import ConfigError
from eqn.experiments.verdicts import against_baseline, comparison_line, select_model


def record(eqn_dev, m_dev):
    return {"stages": {"eqn": {"dev": {"best": eqn_dev}}, "M": {"dev": {"best": m_dev}}}}


def test_the_better_model_and_by_how_much():
    found = against_baseline(record(0.46, 0.4767), "eqn", "M")
    assert found["better"] == "M" and found["points"] == pytest.approx(1.67)
    assert comparison_line(found).endswith("M is better by 1.67 points")
    assert "a tie" in comparison_line(against_baseline(record(0.5, 0.5), "eqn", "M"))
    assert against_baseline({"stages": {"eqn": {"dev": {"best": 0.5}}}}, "eqn", "M") is None


def test_select_best_keeps_the_better_and_ties_keep_eqn():
    worse = record(0.46, 0.48)
    assert select_model(worse, "eqn", "M", "eqn") == "eqn" and worse["selected"] == "eqn"
    assert select_model(worse, "eqn", "M", "best") == "M" and worse["selected"] == "M"
    assert select_model(record(0.5, 0.5), "eqn", "M", "best") == "eqn"
    with pytest.raises(ConfigError, match="unknown selection 'fast'; choose eqn or best"):
        select_model(worse, "eqn", "M", "fast")


def test_a_run_folder_names_its_selected_model(tmp_path):
    import json

    from eqn.errors import ModelError
    from eqn.model.inference import read_summary

    for name in ("eqn", "M"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    (tmp_path / "run.json").write_text(json.dumps({"selected": "M"}))
    with pytest.raises(ModelError, match=r"its model is .*/M \("):
        read_summary(tmp_path)
