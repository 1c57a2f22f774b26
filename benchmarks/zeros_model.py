"""A model that gives every text zero energies at no cost: for measuring what is not
the model (readers, writers, Ray's driver and object store), and for cluster tests.

    from zeros_model import ZerosLoader       # benchmarks/ on sys.path
    engine = RayDataEngine(ZerosLoader())
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from eqn.model.config import ModelConfig
from eqn.model.inference import InferenceModel

LABELS = ("anger", "joy", "sadness", "surprise")


class ZerosModel(InferenceModel):
    """Zero energies for every label; tokenising is splitting on nothing."""

    runtime = "zeros"

    def __init__(self, labels: Sequence[str] = LABELS) -> None:
        self.config = ModelConfig(backbone="lstm")
        self.labels_ = tuple(labels)
        self.threshold_ = 5.0
        self.label_thresholds_ = np.full(len(self.labels_), 5.0)
        self.thresholds_tuned_on_ = "none"
        self._hash = "zeros"

    def encode(self, texts: Sequence[str]) -> tuple[list[Any], list[int]]:
        return list(texts), [1] * len(texts)

    def _unclipped_energies(
        self, items: Sequence[Any], lengths: Sequence[int], batch_size: int, progress: bool
    ) -> np.ndarray:
        return np.zeros((len(items), len(self.labels_)), dtype=np.float32)


@dataclass(frozen=True)
class ZerosLoader:
    """A picklable loader for Ray actors (see ``eqn.annotation.ray_data.ModelLoader``)."""

    labels: tuple[str, ...] = LABELS

    def load(self) -> ZerosModel:
        return ZerosModel(self.labels)
