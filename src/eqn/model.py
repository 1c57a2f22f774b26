"""The estimator: ``EQN(...).fit(train, dev)``, ``.energies``, ``.predict``,
``.annotate``, ``.relabel``, ``.save(dir)`` and ``EQN.load(dir)``."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file

from eqn import __version__
from eqn import backbones as B
from eqn import energy as E
from eqn.config import ModelConfig
from eqn.data import Dataset, check_label_names
from eqn.io import atomic_directory
from eqn.training import EnergyModel, FitResult, fit_model, predict_energies, seed_everything

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
LABELS_FILE = "labels.txt"
WEIGHTS_FILE = "model.safetensors"
MODEL_FORMAT = "eqn-model/1"


class NotFittedError(RuntimeError):
    """The model has not been fitted or loaded yet."""


def _as_texts(texts: str | Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    return ["" if t is None else str(t) for t in texts]


class EQN:
    """An energy model over a fixed label set, estimator style.

    Parameters are those of :class:`eqn.config.ModelConfig`; pass a config, keyword
    arguments, or both (keywords override the config). Learned state ends in ``_``.

    >>> model = EQN(backbone="lstm", epochs=3).fit(splits.train, splits.dev)   # doctest: +SKIP
    >>> model.annotate("What a lovely surprise!")                              # doctest: +SKIP
    """

    def __init__(self, config: ModelConfig | None = None, **params: Any) -> None:
        self.config = config.replace(**params) if config is not None else ModelConfig(**params)

    # -- fitting -------------------------------------------------------------------
    def fit(
        self,
        train: Dataset,
        dev: Dataset | None = None,
        targets: np.ndarray | None = None,
        *,
        warm_start_from: EQN | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
        max_steps: int | None = None,
        progress: bool = True,
    ) -> EQN:
        """Train on ``train``, keeping the best epoch on ``dev``; returns ``self``.

        ``targets`` are the energies to regress (default: full labels of
        ``train``, eq. 1-2; pass relabelled energies for Model 2). With
        ``warm_start_from`` training starts from that model's weights instead of
        the pretrained ones.
        """
        config = self.config
        if dev is not None and dev.labels != train.labels:
            raise ValueError("train and dev must share one label set, in the same order")
        if targets is None:
            targets = E.full_labels(train.gold, config.max_energy)
        targets = np.asarray(targets, dtype=np.float32)
        if targets.shape != train.gold.shape:
            raise ValueError(f"targets have shape {targets.shape}, expected {train.gold.shape}")
        started = time.perf_counter()
        seed_everything(config.seed)
        backbone = B.build(config.backbone, config.backbone_options)
        backbone.prepare(train.texts)
        model = EnergyModel(backbone, train.n_labels, config)
        if warm_start_from is not None:
            model.load_state_dict(warm_start_from._fitted().state_dict())
        self.labels_ = tuple(train.labels)
        self.model_ = model

        items = backbone.encode(train.texts)
        lengths = [backbone.item_length(item) for item in items]
        dev_bundle = None
        if dev is not None:
            dev_items = backbone.encode(dev.texts)
            dev_bundle = (dev_items, [backbone.item_length(i) for i in dev_items], dev.gold)
        result: FitResult = fit_model(
            model,
            items,
            lengths,
            targets,
            train.gold,
            config,
            dev=dev_bundle,
            checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else None,
            resume=resume,
            max_steps=max_steps,
            progress=progress,
        )
        self.history_ = result.state.history
        self.best_epoch_ = result.state.best_epoch
        self.interrupted_ = result.interrupted
        self.warm_start_ = warm_start_from is not None
        self.n_train_ = len(train)
        self.train_seconds_ = result.state.seconds
        self._tune_thresholds(dev, dev_bundle, progress)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _tune_thresholds(self, dev: Dataset | None, bundle: Any, progress: bool) -> None:
        """Annotation thresholds tuned on dev: one global (macro F1) and one per label."""
        if dev is None or bundle is None:
            self.threshold_ = self.config.max_energy / 2
            self.label_thresholds_ = np.full(len(self.labels_), self.threshold_)
            self.thresholds_tuned_on_ = None
            return
        items, lengths, gold = bundle
        energies = predict_energies(
            self.model_, items, lengths, self.config.eval_batch_size, progress, "dev"
        )
        grid = E.energy_grid_for(energies, self.config.max_energy)
        self.threshold_ = E.tune_threshold(energies, gold, grid, keep_top=self.config.keep_top)
        self.label_thresholds_ = E.tune_label_thresholds(energies, gold, grid)
        self.thresholds_tuned_on_ = dev.name or "dev"

    # -- inference -------------------------------------------------------------------
    def _fitted(self) -> EnergyModel:
        if not hasattr(self, "model_"):
            raise NotFittedError("this EQN model is not fitted yet: call fit() or EQN.load()")
        return self.model_

    @property
    def labels(self) -> tuple[str, ...]:
        self._fitted()
        return self.labels_

    def energies(
        self, texts: str | Sequence[str], batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """Energies, shape (n_texts, n_labels), 0 (absent) to ``max_energy`` (strongest)."""
        model = self._fitted()
        text_list = _as_texts(texts)
        if not text_list:
            return np.zeros((0, len(self.labels_)), dtype=np.float32)
        items = model.backbone.encode(text_list)
        lengths = [model.backbone.item_length(item) for item in items]
        return predict_energies(
            model, items, lengths, batch_size or self.config.eval_batch_size, progress
        )

    def predict(
        self,
        texts: str | Sequence[str],
        k: int | None = None,
        threshold: float | Sequence[float] | None = None,
    ) -> list[list[str]]:
        """Label names per text: the top ``k``, or those at or above ``threshold``.

        With neither, the model's tuned threshold is used (multi-label data,
        keeping the top label) or max() (single-label data).
        """
        energies = self.energies(texts)
        if k is not None:
            prediction = E.classify_top_k(energies, k)
        elif threshold is not None:
            prediction = E.classify_threshold(energies, threshold, keep_top=self.config.keep_top)
        elif self.config.objective == "S":
            prediction = E.classify_max(energies)
        else:
            prediction = E.classify_threshold(energies, self.threshold_, self.config.keep_top)
        return [[self.labels_[j] for j in np.flatnonzero(row)] for row in prediction]

    def annotate(
        self,
        texts: str | Sequence[str],
        threshold: float | None = None,
        raw: bool = False,
        energies: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """One row per text: an energy column per label (2 decimals), the macro-emotion
        (top label) and the micro-emotions (other labels at or above the threshold h)."""
        text_list = _as_texts(texts)
        values = self.energies(text_list) if energies is None else energies
        return annotation_frame(
            text_list,
            values,
            self.labels,
            self.threshold_ if threshold is None else threshold,
            raw=raw,
        )

    def relabel(self, dataset: Dataset, progress: bool = True) -> np.ndarray:
        """Label regression (eq. 3) of ``dataset`` with this model's energies."""
        if dataset.labels != self.labels:
            raise ValueError("the dataset's labels differ from the model's")
        return E.label_regression(
            dataset.gold, self.energies(dataset.texts, progress=progress), self.config.max_energy
        )

    # -- persistence -------------------------------------------------------------------
    def state_summary(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "eqn_version": __version__,
            "config": self.config.to_dict(),
            "labels": list(self.labels_),
            "thresholds": {
                "global": float(self.threshold_),
                "per_label": {
                    label: float(t)
                    for label, t in zip(self.labels_, self.label_thresholds_, strict=True)
                },
                "tuned_on": self.thresholds_tuned_on_,
            },
            "fit": {
                "best_epoch": getattr(self, "best_epoch_", None),
                "history": getattr(self, "history_", []),
                "n_train": getattr(self, "n_train_", None),
                "warm_start": getattr(self, "warm_start_", False),
                "train_seconds": getattr(self, "train_seconds_", None),
            },
        }

    def save(self, directory: str | os.PathLike[str], force: bool = False) -> Path:
        """Write ``config.json``, ``labels.txt``, safetensors weights and backbone assets.

        The folder is written beside the target and renamed into place, so a
        failure leaves no half-written model. An existing folder is only
        replaced with ``force``.
        """
        model = self._fitted()
        target = Path(directory)
        if target.exists() and any(target.iterdir()) and not force:
            raise FileExistsError(
                f"{target} already exists; pass force=True (--force) to replace it"
            )
        with atomic_directory(target) as staging:
            (staging / CONFIG_FILE).write_text(
                json.dumps(self.state_summary(), indent=2), encoding="utf-8"
            )
            (staging / LABELS_FILE).write_text("\n".join(self.labels_) + "\n", encoding="utf-8")
            weights = {
                k: v.detach().contiguous().clone() for k, v in model.weights_to_save().items()
            }
            save_file(weights, str(staging / WEIGHTS_FILE), metadata={"format": MODEL_FORMAT})
            model.backbone.save_assets(staging)
        logger.info("model saved to %s", target)
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> EQN:
        """Load a model saved by :meth:`save`; energies are bit-identical."""
        source = Path(directory)
        config_path = source / CONFIG_FILE
        if not config_path.is_file():
            raise FileNotFoundError(f"{source} is not an eqn model folder: it has no {CONFIG_FILE}")
        summary = json.loads(config_path.read_text(encoding="utf-8"))
        if summary.get("format") != MODEL_FORMAT:
            raise ValueError(
                f"{config_path} has format {summary.get('format')!r}; expected {MODEL_FORMAT!r}"
            )
        config = ModelConfig.from_dict(summary["config"])
        labels = tuple(summary["labels"])
        check_label_names(labels, source=str(config_path))
        torch.manual_seed(config.seed)
        backbone = B.build(config.backbone, config.backbone_options)
        backbone.load_assets(source)
        model = EnergyModel(backbone, len(labels), config)
        weights = load_file(str(source / WEIGHTS_FILE))
        missing, unexpected = model.load_state_dict(weights, strict=False)
        expected_missing = set(model.state_dict()) - set(model.weights_to_save())
        if unexpected or set(missing) - expected_missing:
            raise ValueError(
                f"{source / WEIGHTS_FILE} does not match the model: missing "
                f"{sorted(set(missing) - expected_missing)[:5]}, unexpected {unexpected[:5]}"
            )
        model.eval()
        estimator = cls(config)
        estimator.model_ = model
        estimator.labels_ = labels
        thresholds = summary["thresholds"]
        estimator.threshold_ = float(thresholds["global"])
        estimator.label_thresholds_ = np.array([thresholds["per_label"][label] for label in labels])
        estimator.thresholds_tuned_on_ = thresholds.get("tuned_on")
        fit = summary.get("fit", {})
        estimator.history_ = fit.get("history", [])
        estimator.best_epoch_ = fit.get("best_epoch")
        estimator.n_train_ = fit.get("n_train")
        estimator.warm_start_ = fit.get("warm_start", False)
        estimator.train_seconds_ = fit.get("train_seconds")
        return estimator


def format_micro_emotions(pairs: Sequence[tuple[str, float]]) -> str:
    """``joy:3.21;love:1.40``: readable, and easy to split again."""
    return ";".join(f"{label}:{value:.2f}" for label, value in pairs)


def annotation_frame(
    texts: Sequence[str],
    energies: np.ndarray,
    labels: Sequence[str],
    threshold: float | Sequence[float],
    raw: bool = False,
) -> pd.DataFrame:
    """The annotation table (eq. 8): energies (thresholded unless ``raw``), the
    macro-emotion and the micro-emotions at or above the threshold.

    The macro-emotion keeps its energy even below the threshold, so the table
    never names a top label whose energy reads 0.
    """
    values = np.asarray(energies, dtype=np.float64)
    kept = E.threshold_energies(values, threshold)
    top = values.argmax(axis=1) if len(values) else np.zeros(0, dtype=int)
    rows = np.arange(len(values))
    kept[rows, top] = values[rows, top]
    shown = np.clip(values if raw else kept, 0.0, None)
    frame = pd.DataFrame(np.round(shown, 2), columns=list(labels))
    frame.insert(0, "text", list(texts))
    frame["macro_emotion"] = [labels[j] for j in top]
    micro = []
    for row, top_label in zip(kept, top, strict=True):
        order = [j for j in np.argsort(-row, kind="stable") if j != top_label and row[j] > 0]
        micro.append(format_micro_emotions([(labels[j], float(row[j])) for j in order]))
    frame["micro_emotions"] = micro
    return frame
