"""A training run's folder, its record (``run.json``: environment, peak memory) and
the training of one stage with checkpoints."""

from __future__ import annotations

import logging
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eqn import __version__
from eqn.data.table import DatasetSplits
from eqn.errors import OutputExistsError, StageError
from eqn.model.config import ModelConfig
from eqn.model.estimator import EQN

logger = logging.getLogger(__name__)


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


def reuse_or_refuse(path: Path, force: bool, resume: bool, what: str) -> bool:
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


def fit_stage(
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


def stage_config(stage: str, config: ModelConfig) -> ModelConfig:
    """The configuration of a stage's model: a baseline's objective, or energies."""
    if stage in ("S", "M"):
        return config.replace(objective=stage)
    return config.replace(objective="energy")
