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
import platform
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eqn import __version__
from eqn.core import metrics as M
from eqn.core.energy import label_regression
from eqn.data.splits import fold_assignment
from eqn.data.table import Dataset, DatasetSplits
from eqn.errors import ConfigError, InputError, OutputExistsError, StageError
from eqn.io import atomic_write, write_json
from eqn.model.config import LOSSES, Loss, ModelConfig
from eqn.model.estimator import EQN

logger = logging.getLogger(__name__)

STAGES = ("coeqn", "relabel", "eqn", "S", "M")
PIPELINE = ("coeqn", "relabel", "eqn")
RELABELLED_FILE = "relabelled_train.csv"
RUN_FILE = "run.json"
TEACHER_ENERGIES = "train_energies.npz"


@dataclass(frozen=True)
class RunFolder:
    root: Path

    def model(self, stage: str) -> Path:
        return self.root / stage

    @property
    def relabelled(self) -> Path:
        return self.root / RELABELLED_FILE

    @property
    def run_json(self) -> Path:
        return self.root / RUN_FILE

    def checkpoints(self, stage: str) -> Path:
        return self.root / "checkpoints" / stage

    @property
    def relabel_folds(self) -> Path:
        return self.root / "relabel_folds"

    def teacher(self, seed: int) -> Path:
        return self.root / "teachers" / f"seed_{seed}"


def environment() -> dict[str, Any]:
    """Versions and machine, recorded with every run."""
    import sklearn
    import torch
    import transformers

    return {
        "eqn": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}",
        "torch_threads": torch.get_num_threads(),
    }


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports KiB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_relabelled(path: Path, dataset: Dataset, energies: np.ndarray) -> None:
    """The relabelled training set, in the form of the paper's ``gotrainadd.csv``."""
    frame = pd.DataFrame(np.round(energies, 2), columns=list(dataset.labels))
    frame.insert(0, "labels", [",".join(dataset.gold_names(i)) for i in range(len(dataset))])
    frame.insert(0, "text", dataset.texts)
    with atomic_write(path, "w", encoding="utf-8", newline="") as stream:
        frame.to_csv(stream, index=False)


def out_of_fold_energies(
    splits: DatasetSplits,
    config: ModelConfig,
    folds: int,
    work_dir: Path,
    resume: bool = False,
    progress: bool = True,
) -> tuple[np.ndarray, list[float]]:
    """Model-1 energies for every training text from a model that never saw it.

    Relabelling with Model 1 scores texts it was trained on, so its non-gold
    energies are shrunk towards the 0 it was taught there. Here each of ``folds``
    Model 1s trains on the other folds (best epoch on dev) and scores its own
    fold. Finished folds are kept in ``work_dir`` and reused with ``resume``.
    """
    train = splits.train
    assignment = fold_assignment(len(train), folds, config.seed)
    energies = np.zeros((len(train), train.n_labels), dtype=np.float32)
    seconds: list[float] = []
    work_dir.mkdir(parents=True, exist_ok=True)
    for fold in range(folds):
        held_out = np.flatnonzero(assignment == fold)
        saved = work_dir / f"fold_{fold}.npz"
        if resume and saved.is_file():
            with np.load(saved) as stored:
                if np.array_equal(stored["indices"], held_out):
                    energies[held_out] = stored["energies"]
                    seconds.append(float(stored["train_seconds"]))
                    logger.info("relabel fold %d/%d: reusing %s", fold + 1, folds, saved)
                    continue
        logger.info(
            "relabel fold %d/%d: training Model 1 on %d texts, scoring %d",
            fold + 1,
            folds,
            len(train) - len(held_out),
            len(held_out),
        )
        model = EQN(_stage_config("coeqn", config)).fit(
            train.subset(np.flatnonzero(assignment != fold)), splits.dev, progress=progress
        )
        energies[held_out] = model.energies(
            [train.texts[i] for i in held_out], progress=progress, calibrated=False
        )
        seconds.append(model.train_seconds_ or 0.0)
        with atomic_write(saved, "wb") as stream:
            np.savez(
                stream,
                indices=held_out,
                energies=energies[held_out],
                train_seconds=model.train_seconds_ or 0.0,
            )
    return energies, seconds


def read_relabelled(path: Path, dataset: Dataset) -> np.ndarray:
    """Energies from a relabelled CSV, checked against the training set it was made from."""
    if not path.is_file():
        raise StageError(f"{path} does not exist: run the 'relabel' stage first")
    frame = pd.read_csv(path, keep_default_na=False)
    missing = [label for label in dataset.labels if label not in frame.columns]
    if missing:
        raise InputError(
            f"{path} lacks energy columns {', '.join(missing)}; found columns: "
            f"{', '.join(map(str, frame.columns))}"
        )
    if len(frame) != len(dataset) or frame["text"].astype(str).tolist() != list(dataset.texts):
        raise StageError(
            f"{path} was made from a different training set ({len(frame)} rows, expected "
            f"{len(dataset)}); relabel again, replacing it",
            parameter="force",
        )
    return frame[list(dataset.labels)].to_numpy(dtype=np.float32)


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


def _stage_config(stage: str, config: ModelConfig) -> ModelConfig:
    if stage in ("S", "M"):
        return config.replace(objective=stage)
    return config.replace(objective="energy")


def _existing(path: Path, force: bool, resume: bool, what: str) -> bool:
    """True when a finished output may be reused; refuses to overwrite without ``force``."""
    if not path.exists():
        return False
    if force:
        return False
    if resume:
        logger.info("%s exists: reusing it", path)
        return True
    raise OutputExistsError(
        f"{what} {path} already exists; pass force=True to replace it, or resume=True to reuse it",
        parameter="force",
    )


@dataclass(frozen=True)
class RelabelOptions:
    """How the training set is relabelled (eq. 3) for Model 2.

    * ``folds=1, teachers=1``: with Model 1 itself, as the paper.
    * ``folds=K >= 2``: out of fold; each text is scored by a Model 1 that never saw it.
    * ``teachers=N >= 2``: with the mean energies of N CoEQN teachers trained with
      their own seeds (``seed * N + k``, so another run seed gets other teachers),
      each with ``teacher_loss``. Gold labels go back to 10 in every case.
    """

    folds: int = 1
    teachers: int = 1
    teacher_loss: Loss = "mse"

    def __post_init__(self) -> None:
        if self.folds < 1 or self.teachers < 1:
            raise ConfigError(
                f"relabel folds and teachers must be at least 1, got {self.folds}, {self.teachers}"
            )
        if self.folds > 1 and self.teachers > 1:
            raise ConfigError("relabel either out of fold or with teachers, not both")
        if self.teacher_loss not in LOSSES:
            raise ConfigError(
                f"teacher_loss must be one of {', '.join(LOSSES)}, got {self.teacher_loss!r}"
            )

    def teacher_seeds(self, seed: int) -> list[int]:
        return [seed * self.teachers + k for k in range(self.teachers)]

    def describe(self, seed: int) -> dict[str, Any]:
        if self.teachers > 1:
            return {
                "method": "ensemble teachers",
                "teachers": self.teachers,
                "teacher_seeds": self.teacher_seeds(seed),
                "teacher_loss": self.teacher_loss,
            }
        if self.folds > 1:
            return {"method": "out of fold", "folds": self.folds}
        return {"method": "Model 1 (the paper)", "folds": 1}


def teacher_energies(
    splits: DatasetSplits,
    config: ModelConfig,
    relabel: RelabelOptions,
    folder: RunFolder,
    resume: bool,
    progress: bool,
    device: str = "auto",
) -> tuple[np.ndarray, list[float]]:
    """Mean energies over train of the N CoEQN teachers, training those not yet saved.

    Each finished teacher is kept in ``teachers/seed_S/`` with its energies on
    train, so an interrupted relabelling resumes where it stopped.
    """
    train = splits.train
    total = np.zeros((len(train), train.n_labels), dtype=np.float64)
    seconds: list[float] = []
    for seed in relabel.teacher_seeds(config.seed):
        target = folder.teacher(seed)
        cached = target / TEACHER_ENERGIES
        if (target / "config.json").is_file():
            teacher = EQN.load(target, device=device)
        else:
            teacher_config = config.replace(
                objective="energy", loss=relabel.teacher_loss, seed=seed
            )
            logger.info("teacher seed %d: training on %d texts", seed, len(train))
            teacher = _fit_stage(
                teacher_config,
                splits,
                folder.checkpoints(f"teacher_{seed}"),
                resume,
                progress,
                device=device,
            )
            teacher.save(target, force=True)
            shutil.rmtree(folder.checkpoints(f"teacher_{seed}"), ignore_errors=True)
        if cached.is_file():
            with np.load(cached) as stored:
                energies = stored["energies"]
        else:
            energies = teacher.energies(train.texts, progress=progress, calibrated=False)
            with atomic_write(cached, "wb") as stream:
                np.savez(stream, energies=energies)
        if energies.shape != total.shape:
            raise StageError(f"{cached} was made from another training set; remove {target}")
        total += energies
        seconds.append(teacher.train_seconds_ or 0.0)
    return (total / relabel.teachers).astype(np.float32), seconds


def _fit_stage(
    config: ModelConfig,
    splits: DatasetSplits,
    checkpoints: Path,
    resume: bool,
    progress: bool,
    targets: np.ndarray | None = None,
    warm_from: EQN | None = None,
    max_steps: int | None = None,
    device: str = "auto",
) -> EQN:
    """Train one model with checkpoints; stopping at ``max_steps`` is a StageError."""
    model = EQN(config).fit(
        splits.train,
        splits.dev,
        targets,
        warm_start_from=warm_from,
        checkpoint_dir=checkpoints,
        resume=resume and (checkpoints / "checkpoint.pt").is_file(),
        max_steps=max_steps,
        progress=progress,
        device=device,
    )
    if model.interrupted_:
        raise StageError(
            f"training stopped after max_steps; continue it with resume=True "
            f"(checkpoint in {checkpoints})",
            parameter="resume",
        )
    return model


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


def default_warm_start(multilabel: bool, backbone: str) -> bool:
    """Whether Model 2 starts from Model 1's weights when the user did not say.

    Yes for single-label data with the pretrained transformer: there a fresh
    Model 2 trailed the softmax baseline S, and one continued from Model 1 on the
    relabelled set did not (benchmarks/README.md, "Single-label"). Otherwise the
    paper's fresh start, which the weaker backbones gain from on single-label
    data, and which the multi-label default recipe (ensemble teachers) uses.
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
        if _existing(self.folder.relabelled, self.force, self.resume, "relabelled set"):
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
        if _existing(target, self.force, self.resume, "model"):
            # Loaded lazily, only if a later stage needs it: resuming a finished run
            # then costs nothing, and its record in run.json stands as it was. A run
            # killed between saving the model and writing run.json is scored now.
            if "metrics" not in self.record["stages"].get(stage, {}):
                model = self._model(stage)
                self.record["stages"][stage] = self._stage_record(model, target, started)
                write_json(self.folder.run_json, self.record)
            return
        config = _stage_config(stage, self.config)
        targets = warm_from = None
        if stage == "eqn":
            targets = read_relabelled(self.folder.relabelled, self.splits.train)
            if self._warm_start():
                warm_from = self._model("coeqn")
        logger.info(
            "stage %s: training %s on %d texts", stage, config.backbone, len(self.splits.train)
        )
        checkpoints = self.folder.checkpoints(stage)
        model = _fit_stage(
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
