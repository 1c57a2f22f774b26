"""The EQN pipeline as stages: ``coeqn`` (Model 1), ``relabel`` (eq. 3), ``eqn``
(Model 2), and the paper's baselines ``S`` and ``M``, with a ``run.json`` record.

Run folder layout::

    OUT/coeqn/                 Model 1 (config.json, labels.txt, model.safetensors, ...)
    OUT/relabelled_train.csv   text, gold labels, one energy column per label (2 decimals)
    OUT/relabel_folds/         held-out energies per fold (out-of-fold relabelling only)
    OUT/teachers/seed_S/       ensemble teachers and their energies on train (teachers only)
    OUT/eqn/                   Model 2, the EQN model
    OUT/S/ or OUT/M/           a baseline
    OUT/run.json               config, seed, versions, timings, dev/test metrics
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eqn import __version__
from eqn.core import metrics as M
from eqn.core.energy import label_regression, mix_with_gold
from eqn.data.table import DatasetSplits
from eqn.errors import StageError
from eqn.experiments.relabel import (
    RelabelOptions,
    out_of_fold_energies,
    read_relabelled,
    teacher_energies,
    write_relabelled,
)
from eqn.experiments.runs import (
    RELABELLED_FILE,
    RUN_FILE,
    TEACHER_ENERGIES,
    RunFolder,
    environment,
    fit_stage,
    peak_rss_mib,
    reuse_or_refuse,
    stage_config,
)
from eqn.experiments.verdicts import (
    MIN_TEXTS_PER_LABEL,
    chance_score,
    dev_against_chance,
    training_warnings,
    verdict,
)
from eqn.io import write_json
from eqn.model.config import ModelConfig
from eqn.model.estimator import EQN

logger = logging.getLogger(__name__)

# Re-exported: the run folder, relabelling and verdicts used to live here.
__all__ = [
    "MIN_TEXTS_PER_LABEL",
    "PIPELINE",
    "RELABELLED_FILE",
    "RUN_FILE",
    "STAGES",
    "TEACHER_ENERGIES",
    "Pipeline",
    "RelabelOptions",
    "RunFolder",
    "chance_score",
    "default_warm_start",
    "dev_against_chance",
    "environment",
    "out_of_fold_energies",
    "peak_rss_mib",
    "read_relabelled",
    "run_pipeline",
    "stage_metrics",
    "teacher_energies",
    "training_warnings",
    "verdict",
    "write_relabelled",
]

STAGES = ("coeqn", "relabel", "eqn", "S", "M")
PIPELINE = ("coeqn", "relabel", "eqn")


def stage_metrics(model: EQN, splits: DatasetSplits, progress: bool = True) -> dict[str, Any]:
    """Dev and test metrics: the paper's protocol on both, thresholds tuned on dev for test."""
    dev_energies = model.energies(splits.dev.texts, progress=progress)
    test_energies = model.energies(splits.test.texts, progress=progress)
    labels = splits.labels
    keep_top = model.config.keep_top
    return {
        "dev": M.evaluate_energies(dev_energies, splits.dev.gold, labels),
        "test": M.evaluate_energies(
            test_energies, splits.test.gold, labels, dev_energies, splits.dev.gold, keep_top
        ),
    }


def default_warm_start(multilabel: bool, backbone: str) -> bool:
    """Whether Model 2 starts from Model 1's weights when the user did not say.

    Yes for single-label data with the pretrained transformer: there a fresh
    Model 2 trailed the softmax baseline S, and one continued from Model 1 on the
    relabelled set did not (benchmarks/README.md, "Single-label"). Otherwise the
    paper's fresh start, which the weaker backbones gain from on single-label
    data. On multi-label data the warm start beat it in the recipe study
    (benchmarks/results/recipe_study.md), and is its own recipe, ``paper-warm``: the
    recipe named ``paper`` keeps the paper's way.
    """
    return not multilabel and backbone == "transformer"


class Pipeline:
    """The stages of one run folder, each a method: relabel, or train a model."""

    def __init__(
        self,
        splits: DatasetSplits,
        config: ModelConfig,
        out_dir: str | os.PathLike[str],
        relabel: RelabelOptions,
        warm_start: bool | None,
        force: bool,
        resume: bool,
        max_steps: int | None,
        progress: bool,
        device: str = "auto",
    ) -> None:
        self.splits, self.config, self.relabel_options = splits, config, relabel
        self.device = device
        self.warm_start, self.force, self.resume = warm_start, force, resume
        self.max_steps, self.progress = max_steps, progress
        self.folder = RunFolder(Path(out_dir))
        self.folder.root.mkdir(parents=True, exist_ok=True)
        self.models: dict[str, EQN] = {}
        self.record = self._start_record()

    def _start_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {}
        if self.folder.run_json.is_file():
            record = json.loads(self.folder.run_json.read_text(encoding="utf-8"))
        record.update(
            {
                "eqn_version": __version__,
                "environment": environment(),
                "data": self.splits.split_info,
                "seed": self.config.seed,
                "config": self.config.to_dict(),
                "relabel": self.relabel_options.describe(self.config.seed),
                "sizes": {s: len(self.splits[s]) for s in ("train", "dev", "test")},
            }
        )
        record.setdefault("stages", {})
        return record

    def _model(self, stage: str) -> EQN:
        return self.models.get(stage) or _load_stage_model(self.folder, stage)

    def relabel(self) -> None:
        """Eq. 3 with Model 1, out of fold, or with ensemble teachers."""
        started = time.perf_counter()
        if reuse_or_refuse(self.folder.relabelled, self.force, self.resume, "relabelled set"):
            return
        splits, config, options = self.splits, self.config, self.relabel_options
        origin: dict[str, Any] = options.describe(config.seed)
        if options.teachers > 1:
            mean, seconds = teacher_energies(
                splits, config, options, self.folder, self.resume, self.progress, self.device
            )
            energies = label_regression(
                splits.train.gold, mean, config.max_energy, splits.train.intensity
            )
            origin |= {
                "from_model": str(self.folder.root / "teachers"),
                "teacher_train_seconds": seconds,
            }
        elif options.folds > 1:
            fold_energies, seconds = out_of_fold_energies(
                splits, config, options.folds, self.folder.relabel_folds, self.resume, self.progress
            )
            energies = label_regression(
                splits.train.gold, fold_energies, config.max_energy, splits.train.intensity
            )
            origin |= {
                "from_model": f"out of fold: {options.folds} Model 1s, each without its fold",
                "fold_train_seconds": seconds,
            }
        else:
            energies = self._model("coeqn").relabel(splits.train, progress=self.progress)
            origin |= {"from_model": str(self.folder.model("coeqn"))}
        if options.gold_weight:
            energies = mix_with_gold(
                energies,
                splits.train.gold,
                options.gold_weight,
                config.max_energy,
                splits.train.intensity,
            )
        write_relabelled(self.folder.relabelled, splits.train, energies)
        non_gold = energies[~splits.train.gold]
        self.record["stages"]["relabel"] = {
            "seconds": time.perf_counter() - started,
            "file": str(self.folder.relabelled),
            **origin,
            "non_gold_energy": {
                "mean": float(non_gold.mean()) if non_gold.size else 0.0,
                "share_at_least_1": float((non_gold >= 1).mean()) if non_gold.size else 0.0,
            },
        }
        write_json(self.folder.run_json, self.record)

    def train(self, stage: str) -> None:
        """Train, save and score one model stage (coeqn, eqn, S or M)."""
        started = time.perf_counter()
        target = self.folder.model(stage)
        if reuse_or_refuse(target, self.force, self.resume, "model"):
            # Loaded lazily, only if a later stage needs it: resuming a finished run
            # then costs nothing, and its record in run.json stands as it was. A run
            # killed between saving the model and writing run.json is scored now.
            if "metrics" not in self.record["stages"].get(stage, {}):
                model = self._model(stage)
                self.record["stages"][stage] = self._stage_record(model, target, started)
                write_json(self.folder.run_json, self.record)
            return
        config = stage_config(stage, self.config)
        targets = warm_from = None
        if stage == "eqn":
            targets = read_relabelled(self.folder.relabelled, self.splits.train)
            if self._warm_start():
                warm_from = self._model("coeqn")
        logger.info(
            "stage %s: training %s on %d texts", stage, config.backbone, len(self.splits.train)
        )
        checkpoints = self.folder.checkpoints(stage)
        model = fit_stage(
            config,
            self.splits,
            checkpoints,
            self.resume,
            self.progress,
            targets,
            warm_from,
            self.max_steps,
            self.device,
        )
        model.save(target, force=True)
        shutil.rmtree(checkpoints, ignore_errors=True)
        self.models[stage] = model
        self.record["stages"][stage] = self._stage_record(model, target, started)
        warnings = training_warnings(model, self.splits)
        for warning in warnings:
            logger.warning("stage %s: %s", stage, warning)
        self.record["stages"][stage]["warnings"] = warnings
        self.record["stages"][stage]["dev"] = dev_against_chance(model, self.splits)
        summary = M.headline(self.record["stages"][stage]["metrics"]["test"])
        logger.info("stage %s test: %s", stage, {k: round(v, 4) for k, v in summary.items()})
        write_json(self.folder.run_json, self.record)

    def _warm_start(self) -> bool:
        """The asked warm start, or the default for this data when none was asked.

        The default continues the Model 1 that relabelled the training set, so it
        applies only to the paper's relabelling; with teachers or out of fold,
        Model 2 starts fresh unless asked.
        """
        if self.warm_start is not None:
            return self.warm_start
        options = self.relabel_options
        relabelled_by_model_1 = options.teachers == 1 and options.folds == 1
        has_model_1 = (
            "coeqn" in self.models or (self.folder.model("coeqn") / "config.json").is_file()
        )
        chosen = (
            relabelled_by_model_1
            and has_model_1
            and default_warm_start(self.splits.train.is_multilabel, self.config.backbone)
        )
        logger.info(
            "stage eqn: %s (the default for this data)", "warm start" if chosen else "fresh"
        )
        return chosen

    def _stage_record(self, model: EQN, target: Path, started: float) -> dict[str, Any]:
        return {
            "seconds": time.perf_counter() - started,
            "train_seconds": model.train_seconds_,
            "train_texts_per_second": (
                model.n_train_ * len(model.history_) / model.train_seconds_
                if model.train_seconds_ and model.n_train_
                else None
            ),
            "best_epoch": model.best_epoch_,
            "history": model.history_,
            "warm_start": model.warm_start_,
            "start": "warm (Model 1 weights)" if model.warm_start_ else "pretrained/fresh weights",
            "threshold": model.threshold_,
            "calibrated_threshold": model.threshold_for(calibrated=True),
            "model": str(target),
            "metrics": stage_metrics(model, self.splits, self.progress),
            "peak_rss_mib_so_far": peak_rss_mib(),
        }

    def run(self, stages: Sequence[str]) -> dict[str, Any]:
        for stage in stages:
            if stage == "relabel":
                self.relabel()
            else:
                self.train(stage)
        return self.record


def run_pipeline(
    splits: DatasetSplits,
    config: ModelConfig,
    out_dir: str | os.PathLike[str],
    stages: Sequence[str] = PIPELINE,
    warm_start: bool | None = None,
    force: bool = False,
    resume: bool = False,
    max_steps: int | None = None,
    progress: bool = True,
    relabel: RelabelOptions | None = None,
    device: str = "auto",
) -> dict[str, Any]:
    """Run the asked stages in order and return the ``run.json`` record.

    ``relabel`` says how the training set is relabelled (default: with Model 1,
    as the paper; see :class:`RelabelOptions`). ``warm_start``: whether Model 2
    starts from Model 1's weights; ``None`` chooses by the data (see
    :func:`default_warm_start`).
    """
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise StageError(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(STAGES)}")
    options = relabel or RelabelOptions()
    if options.folds > len(splits.train):
        raise StageError(
            f"relabel folds must be 1 (relabel with Model 1, as the paper) or from 2 to the "
            f"number of training texts ({len(splits.train)}) for out-of-fold relabelling; "
            f"got {options.folds}"
        )
    pipeline = Pipeline(
        splits, config, out_dir, options, warm_start, force, resume, max_steps, progress, device
    )
    return pipeline.run(stages)


def _load_stage_model(folder: RunFolder, stage: str) -> EQN:
    path = folder.model(stage)
    if not (path / "config.json").is_file():
        raise StageError(f"{path} holds no model: run the '{stage}' stage first")
    return EQN.load(path)
