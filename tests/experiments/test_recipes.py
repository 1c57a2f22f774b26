"""Named recipes: stages, losses and relabelling, and options that change one."""

from dataclasses import replace

import pytest

from eqn.errors import ConfigError
from eqn.experiments.recipes import DEFAULT_RECIPE, RECIPES, get_recipe


def test_every_recipe_is_complete_and_the_default_is_one_of_them():
    assert DEFAULT_RECIPE in RECIPES
    for name, recipe in RECIPES.items():
        assert recipe.name == name and recipe.summary and recipe.stages


def test_the_plain_recipe_is_m_or_s_by_the_data():
    plain = get_recipe("plain")
    assert plain.stages_for(multilabel=True) == ["M"]
    assert plain.stages_for(multilabel=False) == ["S"]


def test_options_change_one_factor_and_teachers_replace_model_1():
    paper = get_recipe("paper")
    assert paper.with_options() == paper
    taught = paper.with_options(loss="bce", teachers=3, teacher_loss="bce", gold_weight=0.25)
    assert taught.stages == ("relabel", "eqn") and taught.loss == "bce"
    assert (taught.relabel.teachers, taught.relabel.teacher_loss) == (3, "bce")
    assert taught.relabel.gold_weight == 0.25 and taught.warm_start is None
    student = get_recipe("student-m")
    alone = student.with_options(teachers=1)
    assert alone.relabel.teachers == 1 and alone.stages == ("coeqn", "relabel", "eqn")
    assert student.with_options(warm_start=False).warm_start is False
    with pytest.raises(ConfigError, match="gold_weight must be at least 0 and below 1"):
        student.with_options(gold_weight=1.0)
    mixed = get_recipe("student-m-gold")  # student-m, one factor changed
    assert mixed.relabel == replace(student.relabel, gold_weight=0.5)
    assert (mixed.stages, mixed.loss) == (student.stages, student.loss)


def test_an_unknown_recipe_names_the_known_ones():
    with pytest.raises(ConfigError, match="unknown recipe 'best'; recipes: paper, paper-warm"):
        get_recipe("best")
