"""Named recipes: the ways ``eqn train`` can make a run's model, one factor apart.

A :class:`Recipe` is the pipeline's stages, Model 2's loss, how the training set is
relabelled (:class:`~eqn.experiments.relabel.RelabelOptions`) and whether Model 2
starts from Model 1. ``DEFAULT_RECIPE`` is what ``eqn train DATA`` uses; the recipe
study (``benchmarks/recipe_study.md``) chooses it by a rule written before its runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from eqn.errors import ConfigError
from eqn.experiments.relabel import RelabelOptions
from eqn.model.config import Loss

PLAIN = "plain"  # stands for M on multi-label data, S on single-label data


@dataclass(frozen=True)
class Recipe:
    """One way to train the run's model."""

    name: str
    summary: str
    stages: tuple[str, ...]
    loss: Loss = "mse"
    relabel: RelabelOptions = field(default_factory=RelabelOptions)
    warm_start: bool | None = None  # None: the data's default (default_warm_start)

    def stages_for(self, multilabel: bool) -> list[str]:
        plain = "M" if multilabel else "S"
        return [plain if stage == PLAIN else stage for stage in self.stages]

    def with_options(
        self,
        loss: Loss | None = None,
        warm_start: bool | None = None,
        folds: int | None = None,
        teachers: int | None = None,
        teacher_loss: Loss | None = None,
        gold_weight: float | None = None,
    ) -> Recipe:
        """This recipe with the options given (None: the recipe's own) changed. Teachers
        replace Model 1: asking for them drops it, and asking for one brings it back."""
        relabel = self.relabel
        asked: dict[str, Any] = {"folds": folds, "teachers": teachers}
        asked["teacher_loss"] = teacher_loss
        asked["gold_weight"] = gold_weight
        relabel = replace(relabel, **{k: v for k, v in asked.items() if v is not None})
        stages = self.stages
        if relabel.teachers > 1:
            stages = tuple(stage for stage in stages if stage != "coeqn")
        elif "relabel" in stages and "coeqn" not in stages:
            stages = ("coeqn", *stages)
        return replace(
            self,
            loss=loss or self.loss,
            warm_start=self.warm_start if warm_start is None else warm_start,
            relabel=relabel,
            stages=stages,
        )


_PIPELINE = ("coeqn", "relabel", "eqn")
_STUDENT = ("relabel", "eqn")  # the teachers replace Model 1
RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "paper", "the paper's EQN: CoEQN (MSE), relabelled by it, Model 2 afresh", _PIPELINE
        ),
        Recipe(
            "paper-warm",
            "the paper's EQN with Model 2 continuing from Model 1",
            _PIPELINE,
            warm_start=True,
        ),
        Recipe(
            "student-coeqn",
            "3 CoEQN teachers' mean energies (gold at 10) taught to a BCE student",
            _STUDENT,
            "bce",
            RelabelOptions(teachers=3, teacher_loss="mse"),
        ),
        Recipe(
            "student-m",
            "3 sigmoid (BCE) teachers' mean energies (gold at 10) taught to a BCE student",
            _STUDENT,
            "bce",
            RelabelOptions(teachers=3, teacher_loss="bce"),
        ),
        Recipe(
            "student-m-gold",
            "student-m with its targets mixed half and half with the gold labels (the weight "
            "0.5 chosen on dev in the recipe study)",
            _STUDENT,
            "bce",
            RelabelOptions(teachers=3, teacher_loss="bce", gold_weight=0.5),
        ),
        Recipe(PLAIN, "the plain classifier: M (sigmoid, BCE), or S (softmax)", (PLAIN,)),
    )
}
# Chosen by the recipe study's rule, written before its runs (benchmarks/recipe_study.md):
# M had the best mean dev rank over GoEmotions and XED of the recipes costing <= 4x M.
DEFAULT_RECIPE = PLAIN


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ConfigError(
            f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)}", parameter="recipe"
        ) from None
