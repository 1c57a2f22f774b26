"""Label regression (eq. 3) of the training set for Model 2: with Model 1 (the paper),
out of fold, or with the mean energies of ensemble teachers; the relabelled file."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eqn.data.splits import fold_assignment
from eqn.data.table import Dataset, DatasetSplits
from eqn.errors import ConfigError, InputError, StageError
from eqn.experiments.runs import TEACHER_ENERGIES, RunFolder, fit_stage, stage_config
from eqn.io import atomic_write
from eqn.model.config import LOSSES, Loss, ModelConfig
from eqn.model.estimator import EQN

logger = logging.getLogger(__name__)


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
        model = EQN(stage_config("coeqn", config)).fit(
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


@dataclass(frozen=True)
class RelabelOptions:
    """How the training set is relabelled (eq. 3) for Model 2.

    * ``folds=1, teachers=1``: with Model 1 itself, as the paper.
    * ``folds=K >= 2``: out of fold; each text is scored by a Model 1 that never saw it.
    * ``teachers=N >= 2``: with the mean energies of N CoEQN teachers trained with
      their own seeds (``seed * N + k``, so another run seed gets other teachers),
      each with ``teacher_loss``. Gold labels go back to 10 in every case.
    * ``gold_weight=w > 0``: the relabelled targets are then mixed with the full
      labels, ``w * full + (1 - w) * relabelled`` (distillation with a share of
      the hard labels), so every non-gold energy shrinks by ``1 - w``.
    """

    folds: int = 1
    teachers: int = 1
    teacher_loss: Loss = "mse"
    gold_weight: float = 0.0

    def __post_init__(self) -> None:
        if self.folds < 1 or self.teachers < 1:
            raise ConfigError(
                f"relabel folds and teachers must be at least 1, got {self.folds}, {self.teachers}"
            )
        if self.folds > 1 and self.teachers > 1:
            raise ConfigError("relabel either out of fold or with teachers, not both")
        if not 0.0 <= self.gold_weight < 1.0:
            raise ConfigError(
                f"gold_weight must be at least 0 and below 1 (1 would be the full labels "
                f"alone, Model 1's targets), got {self.gold_weight}"
            )
        if self.teacher_loss not in LOSSES:
            raise ConfigError(
                f"teacher_loss must be one of {', '.join(LOSSES)}, got {self.teacher_loss!r}"
            )

    def teacher_seeds(self, seed: int) -> list[int]:
        return [seed * self.teachers + k for k in range(self.teachers)]

    def describe(self, seed: int) -> dict[str, Any]:
        mixed = {"gold_weight": self.gold_weight} if self.gold_weight else {}
        return self._method(seed) | mixed

    def _method(self, seed: int) -> dict[str, Any]:
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
            teacher = fit_stage(
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
