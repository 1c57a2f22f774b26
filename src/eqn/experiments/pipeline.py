"""The EQN pipeline as stages: ``coeqn`` (Model 1), ``relabel`` (eq. 3), ``eqn``
(Model 2), and the paper's baselines ``S`` and ``M``, with a ``run.json`` record.

Run folder layout::

    OUT/coeqn/                 Model 1 (config.json, labels.txt, model.safetensors, ...)
    OUT/relabelled_train.csv   text, gold labels, one energy column per label (2 decimals)
    OUT/relabel_folds/         held-out energies per fold (out-of-fold relabelling only)
    OUT/eqn/                   Model 2, the EQN model
    OUT/S/ or OUT/M/           a baseline
    OUT/run.json               config, seed, versions, timings, dev/test metrics
"""

from __future__ import annotations

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
from eqn.errors import InputError, OutputExistsError, StageError
from eqn.io import atomic_write, write_json
from eqn.model.config import ModelConfig
from eqn.model.estimator import EQN

logger = logging.getLogger(__name__)

STAGES = ("coeqn", "relabel", "eqn", "S", "M")
PIPELINE = ("coeqn", "relabel", "eqn")
RELABELLED_FILE = "relabelled_train.csv"
RUN_FILE = "run.json"


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
        energies[held_out] = model.energies([train.texts[i] for i in held_out], progress=progress)
        seconds.append(model.train_seconds_)
        with atomic_write(saved, "wb") as stream:
            np.savez(
                stream,
                indices=held_out,
                energies=energies[held_out],
                train_seconds=model.train_seconds_,
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


def run_pipeline(
    splits: DatasetSplits,
    config: ModelConfig,
    out_dir: str | os.PathLike[str],
    stages: Sequence[str] = PIPELINE,
    warm_start: bool = False,
    force: bool = False,
    resume: bool = False,
    max_steps: int | None = None,
    progress: bool = True,
    relabel_folds: int = 1,
) -> dict[str, Any]:
    """Run the asked stages in order and return the ``run.json`` record.

    ``relabel_folds=1`` relabels with Model 1 itself (the paper); ``k >= 2``
    relabels out of fold, each text scored by a Model 1 trained without it.
    """
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise StageError(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(STAGES)}")
    if relabel_folds < 1 or relabel_folds > len(splits.train):
        raise StageError(
            f"relabel folds must be 1 (relabel with Model 1, as the paper) or from 2 to the "
            f"number of training texts ({len(splits.train)}) for out-of-fold relabelling; "
            f"got {relabel_folds}"
        )
    folder = RunFolder(Path(out_dir))
    folder.root.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {}
    if folder.run_json.is_file():
        import json

        record = json.loads(folder.run_json.read_text(encoding="utf-8"))
    record.update(
        {
            "eqn_version": __version__,
            "environment": environment(),
            "data": splits.split_info,
            "seed": config.seed,
            "config": config.to_dict(),
            "sizes": {s: len(splits[s]) for s in ("train", "dev", "test")},
        }
    )
    record.setdefault("stages", {})
    models: dict[str, EQN] = {}

    for stage in stages:
        started = time.perf_counter()
        if stage == "relabel":
            if _existing(folder.relabelled, force, resume, "relabelled set"):
                continue
            origin: dict[str, Any]
            if relabel_folds == 1:
                model_1 = models.get("coeqn") or _load_stage_model(folder, "coeqn")
                energies = model_1.relabel(splits.train, progress=progress)
                origin = {"from_model": str(folder.model("coeqn")), "folds": 1}
            else:
                fold_energies, fold_seconds = out_of_fold_energies(
                    splits, config, relabel_folds, folder.relabel_folds, resume, progress
                )
                energies = label_regression(splits.train.gold, fold_energies, config.max_energy)
                origin = {
                    "from_model": f"out of fold: {relabel_folds} Model 1s, each without its fold",
                    "folds": relabel_folds,
                    "fold_train_seconds": fold_seconds,
                }
            write_relabelled(folder.relabelled, splits.train, energies)
            gold = splits.train.gold
            non_gold = energies[~gold]
            record["stages"]["relabel"] = {
                "seconds": time.perf_counter() - started,
                "file": str(folder.relabelled),
                **origin,
                "non_gold_energy": {
                    "mean": float(non_gold.mean()) if non_gold.size else 0.0,
                    "share_at_least_1": float((non_gold >= 1).mean()) if non_gold.size else 0.0,
                },
            }
            write_json(folder.run_json, record)
            continue

        target = folder.model(stage)
        if _existing(target, force, resume, "model"):
            # Loaded lazily, only if a later stage needs it: resuming a finished run
            # then costs nothing, and its record in run.json stands as it was.
            continue
        stage_config = _stage_config(stage, config)
        targets = None
        warm_from = None
        if stage == "eqn":
            targets = read_relabelled(folder.relabelled, splits.train)
            if warm_start:
                warm_from = models.get("coeqn") or _load_stage_model(folder, "coeqn")
        logger.info(
            "stage %s: training %s on %d texts", stage, stage_config.backbone, len(splits.train)
        )
        checkpoints = folder.checkpoints(stage)
        model = EQN(stage_config).fit(
            splits.train,
            splits.dev,
            targets,
            warm_start_from=warm_from,
            checkpoint_dir=checkpoints,
            resume=resume and (checkpoints / "checkpoint.pt").is_file(),
            max_steps=max_steps,
            progress=progress,
        )
        if model.interrupted_:
            raise StageError(
                f"stage {stage} stopped after max_steps; continue it with resume=True "
                f"(checkpoint in {checkpoints})",
                parameter="resume",
            )
        model.save(target, force=True)
        shutil.rmtree(checkpoints, ignore_errors=True)
        models[stage] = model
        record["stages"][stage] = {
            "seconds": time.perf_counter() - started,
            "train_seconds": model.train_seconds_,
            "train_texts_per_second": (
                model.n_train_ * len(model.history_) / model.train_seconds_
                if model.train_seconds_
                else None
            ),
            "best_epoch": model.best_epoch_,
            "history": model.history_,
            "warm_start": model.warm_start_,
            "start": "warm (Model 1 weights)" if model.warm_start_ else "pretrained/fresh weights",
            "threshold": model.threshold_,
            "model": str(target),
            "metrics": stage_metrics(model, splits, progress),
            "peak_rss_mib_so_far": peak_rss_mib(),
        }
        summary = M.headline(record["stages"][stage]["metrics"]["test"])
        logger.info("stage %s test: %s", stage, {k: round(v, 4) for k, v in summary.items()})
        write_json(folder.run_json, record)
    return record


def _load_stage_model(folder: RunFolder, stage: str) -> EQN:
    path = folder.model(stage)
    if not (path / "config.json").is_file():
        raise StageError(f"{path} holds no model: run the '{stage}' stage first")
    return EQN.load(path)
