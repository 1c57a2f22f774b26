"""What a user should hear about a trained model: too little data, a model at chance,
and one plain sentence on whether it is usable."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from eqn.data.table import DatasetSplits
from eqn.errors import ConfigError
from eqn.model.estimator import EQN

logger = logging.getLogger(__name__)


MIN_TEXTS_PER_LABEL = 20


def chance_score(gold: np.ndarray, multilabel: bool) -> float:
    """The dev score of a model that learned nothing: the majority class's accuracy, or
    the macro F1 of predicting every label for every text."""
    if not len(gold):
        return 0.0
    frequency = np.asarray(gold, dtype=bool).mean(axis=0)
    if not multilabel:
        return float(frequency.max())
    return float(np.mean(2 * frequency / (1 + frequency)))


def training_warnings(model: EQN, splits: DatasetSplits) -> list[str]:
    """What a user should hear about a run: too little data, or a model at chance."""
    warnings = []
    train, labels = splits.train, len(splits.labels)
    if len(train) < MIN_TEXTS_PER_LABEL * labels:
        warnings.append(
            f"only {len(train)} training texts for {labels} labels (under "
            f"{MIN_TEXTS_PER_LABEL} a label); expect a weak model, whatever the backbone"
        )
    scores = [h["dev_score"] for h in model.history_ if "dev_score" in h]
    if scores:
        chance = chance_score(splits.dev.gold, train.is_multilabel)
        if max(scores) <= chance + 0.01:
            warnings.append(
                f"the best dev score {max(scores):.3f} is at chance ({chance:.3f}): the model "
                "learned nothing useful; give more data, more epochs, or another backbone"
            )
    return warnings


def dev_against_chance(model: EQN, splits: DatasetSplits) -> dict[str, float | None]:
    """The model's best dev score during training and the score of learning nothing."""
    scores = [h["dev_score"] for h in model.history_ if "dev_score" in h]
    return {
        "best": max(scores) if scores else None,
        "chance": chance_score(splits.dev.gold, splits.train.is_multilabel),
    }


def verdict(record: dict[str, Any], stage: str) -> str:
    """One plain sentence on whether the stage's model is worth using."""
    result = record["stages"].get(stage, {})
    dev = result.get("dev") or {}
    best, chance = dev.get("best"), dev.get("chance")
    where = result.get("model", stage)
    if best is None or chance is None:
        return f"{where}: no dev split scored it, so nothing says whether it is usable"
    if best <= chance + 0.01:
        return (
            f"NOT USABLE: {where} scored {best:.3f} on dev, no better than a model that learned "
            f"nothing ({chance:.3f}); give more data, more epochs, or another backbone"
        )
    return (
        f"usable: {where} scored {best:.3f} on dev against {chance:.3f} for a model that "
        f"learned nothing (+{best - chance:.3f}); annotate with -m {where}"
    )


SELECTIONS = ("eqn", "best")


def against_baseline(record: dict[str, Any], stage: str, baseline: str) -> dict[str, Any] | None:
    """The stage's model against the plain classifier on the user's own dev split (best
    dev score of each: macro F1 at a dev-tuned threshold, or accuracy), or None when
    either was not scored."""
    stages = record["stages"]
    mine = (stages.get(stage, {}).get("dev") or {}).get("best")
    plain = (stages.get(baseline, {}).get("dev") or {}).get("best")
    if mine is None or plain is None:
        return None
    better = stage if mine >= plain else baseline
    return {
        "model": stage,
        "baseline": baseline,
        "model_dev": mine,
        "baseline_dev": plain,
        "better": better,
        "points": round(abs(mine - plain) * 100, 2),
    }


def comparison_line(comparison: dict[str, Any]) -> str:
    """The comparison as one plain sentence."""
    stage, baseline = comparison["model"], comparison["baseline"]
    head = (
        f"on your dev split: {stage} {comparison['model_dev']:.4f}, the plain classifier "
        f"({baseline}) {comparison['baseline_dev']:.4f}: "
    )
    if comparison["points"] == 0:
        return head + "a tie"
    return head + f"{comparison['better']} is better by {comparison['points']:.2f} points"


def select_model(record: dict[str, Any], stage: str, baseline: str, selection: str) -> str:
    """The run's model: ``stage`` (selection ``eqn``), or the better of it and the
    baseline on dev (``best``; ties keep ``stage``). Recorded as ``record["selected"]``."""
    if selection not in SELECTIONS:
        raise ConfigError(
            f"unknown selection {selection!r}; choose {' or '.join(SELECTIONS)}",
            parameter="select",
        )
    comparison = against_baseline(record, stage, baseline)
    chosen = stage
    if selection == "best" and comparison is not None:
        chosen = comparison["better"]
    record["comparison"] = comparison
    record["selected"] = chosen
    return chosen
