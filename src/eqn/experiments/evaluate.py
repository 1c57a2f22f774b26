"""Evaluation of a model on a split under both metric protocols, with the
stability between two models and a baseline beside it; the report is written
by :mod:`eqn.experiments.report`."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from eqn.core import metrics as M
from eqn.data.table import DatasetSplits
from eqn.errors import InputError
from eqn.experiments.report import label_f1s, write_report
from eqn.model.inference import InferenceModel

logger = logging.getLogger(__name__)


def evaluate_model(
    model: InferenceModel,
    splits: DatasetSplits,
    split: str = "test",
    out_dir: str | os.PathLike[str] | None = None,
    against: InferenceModel | None = None,
    baseline: InferenceModel | None = None,
    model_name: str = "model",
    progress: bool = True,
) -> dict[str, Any]:
    """Score ``model`` on ``split`` under both protocols (thresholds tuned on dev).

    With ``out_dir``, also write the report folder. ``against`` adds the energy
    stability between two models; ``baseline`` adds its per-label F1 beside the model's.
    """
    if tuple(splits.labels) != tuple(model.labels):
        raise InputError(
            f"the model's labels ({', '.join(model.labels[:5])}, ...) differ from the dataset's "
            f"({', '.join(splits.labels[:5])}, ...)"
        )
    data = splits[split]
    # Scored once: calibrated energies are the uncalibrated ones through the maps.
    scored = model.score(data.texts, calibrated=False, progress=progress)
    uncalibrated = scored.energies
    energies = model.calibrate_scores(scored).energies
    dev_energies = (
        model.energies(splits.dev.texts, progress=progress) if split != "dev" else energies
    )
    labels = list(model.labels)
    result = M.evaluate_energies(
        energies, data.gold, labels, dev_energies, splits.dev.gold, keep_top=model.config.keep_top
    )
    threshold = result["thresholded"]["global"]["threshold"]
    result.update(
        {
            "model": model_name,
            "dataset": splits.split_info.get("dataset", data.name),
            "split": split,
            "labels": labels,
            "label_count_distribution": {
                str(k): v for k, v in data.describe()["labels_per_sample"].items()
            },
            "calibrated": model.is_calibrated,
            "calibration": M.calibration(energies, data.gold, model.config.max_energy),
            "calibration_uncalibrated": M.calibration(
                uncalibrated, data.gold, model.config.max_energy
            ),
            "micro_emotions": M.micro_emotion_report(energies, data.gold, labels, threshold),
            "pearson": M.pearson_matrix(energies).round(4).tolist(),
            "headline": {},
        }
    )
    result["headline"] = M.headline(result)
    baseline_metrics = None
    if baseline is not None:
        base_energies = baseline.energies(data.texts, progress=progress)
        base_dev = baseline.energies(splits.dev.texts, progress=progress)
        baseline_metrics = M.evaluate_energies(
            base_energies, data.gold, labels, base_dev, splits.dev.gold
        )
        result["baseline"] = {
            "headline": M.headline(baseline_metrics),
            "per_label_f1": label_f1s(baseline_metrics),
        }
    if against is not None:
        other = against.energies(data.texts, progress=progress)
        result["stability"] = M.energy_agreement(
            energies, other, labels, thresholds=(model.threshold_for(), against.threshold_for())
        )
    if out_dir is not None:
        write_report(Path(out_dir), result, energies, data.gold, baseline_metrics)
    return result
