"""Choosing what to label: uncertainty near h, diverse, random; deterministic; exclusions."""

import json

import numpy as np
import pandas as pd
import pytest

from eqn.annotation.select import select_file, select_texts, uncertainty
from eqn.errors import InputError
from eqn.model.estimator import EQN

POOL = [f"{t} {i}" for i, t in enumerate(["I love it", "so sad", "what a surprise", "angry!"] * 5)]


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return EQN.load(tiny_model_dir)


def test_uncertainty_is_the_nearest_label_to_h():
    energies = np.array([[9.0, 1.0], [5.2, 0.0], [2.0, 4.9]])
    np.testing.assert_allclose(uncertainty(energies, 5.0), [4.0, 0.2, 0.1])


@pytest.mark.parametrize("strategy", ["uncertainty", "diverse", "random"])
def test_every_strategy_is_deterministic_and_skips_what_it_must(model, strategy):
    first = select_texts(model, [*POOL, ""], 5, strategy, seed=3, exclude=[0, 1])
    again = select_texts(model, [*POOL, ""], 5, strategy, seed=3, exclude=[0, 1])
    assert first.indices.tolist() == again.indices.tolist() and len(first.indices) == 5
    assert not {0, 1, len(POOL)} & set(first.indices.tolist())
    if strategy == "uncertainty":
        assert (np.diff(first.scores) >= 0).all()  # the most uncertain first


def test_bad_choices_are_refused(model):
    with pytest.raises(InputError, match="unknown strategy 'smart'; choose one of"):
        select_texts(model, POOL, 2, "smart")
    with pytest.raises(InputError, match="n must be at least 1, got 0"):
        select_texts(model, POOL, 0)


def test_select_file_writes_the_chosen_rows_annotated_and_ranked(model, tmp_path):
    pool = tmp_path / "pool.csv"
    pd.DataFrame({"id": [f"{i:03d}" for i in range(len(POOL))], "text": POOL}).to_csv(
        pool, index=False
    )
    chosen = select_file(model, pool, tmp_path / "picked.csv", 4)
    picked = pd.read_csv(tmp_path / "picked.csv", dtype=str, keep_default_na=False)
    assert picked["eqn_select_rank"].tolist() == ["1", "2", "3", "4"]
    assert picked["id"].tolist() == [f"{i:03d}" for i in chosen.indices]
    assert "macro_emotion" in picked.columns
    export = [{"data": {"text": POOL[i]}, "annotations": [{"result": []}]} for i in chosen.indices]
    (tmp_path / "done.json").write_text(json.dumps(export))
    select_file(
        model, pool, tmp_path / "next.json", 4, exclude=tmp_path / "done.json", fmt="label-studio"
    )
    tasks = json.loads((tmp_path / "next.json").read_text())
    assert not {t["data"]["text"] for t in tasks} & {POOL[i] for i in chosen.indices}
    assert tasks[0]["predictions"][0]["meta"]["select_rank"] == 1


def test_select_file_refuses_bad_paths_before_any_work(tmp_path):
    from eqn.annotation.select import check_selection
    from eqn.errors import OutputExistsError

    pool = tmp_path / "pool.csv"
    with pytest.raises(InputError, match="pool.csv does not exist or is not a file"):
        check_selection(pool, tmp_path / "out.csv", 2)
    pool.write_text("text\nhello\n")
    with pytest.raises(InputError, match="done.json does not exist") as missing:
        check_selection(pool, tmp_path / "out.csv", 2, exclude=tmp_path / "done.json")
    assert missing.value.parameter == "exclude"
    # The pool as the output is refused even when replacing is allowed.
    with pytest.raises(OutputExistsError, match="is the pool itself"):
        check_selection(pool, pool, 2, force=True)
    (tmp_path / "out.csv").write_text("kept")
    with pytest.raises(OutputExistsError, match="already exists; pass force=True"):
        check_selection(pool, tmp_path / "out.csv", 2)
    check_selection(pool, tmp_path / "out.csv", 2, force=True)
