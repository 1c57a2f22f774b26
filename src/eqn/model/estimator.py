"""The estimator: ``EQN(...).fit(train, dev)``, ``.energies``, ``.predict``,
``.annotate``, ``.relabel``, ``.save(dir)`` and ``EQN.load(dir)``."""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from safetensors.torch import save as save_tensors

from eqn import backbones as B
from eqn.core import energy as E
from eqn.core.calibration import fit_calibration
from eqn.data.table import Dataset
from eqn.errors import (
    EqnError,
    InputError,
    ModelError,
    NotFittedError,
    OutputExistsError,
)
from eqn.io import atomic_directory
from eqn.model.config import ModelConfig, check_precision
from eqn.model.device import device_of, resolve_device
from eqn.model.inference import (
    CALIBRATION_FILE,
    CONFIG_FILE,
    DEFAULT_MODEL_DIR,
    DEFAULT_MODEL_NAME,
    LABELS_FILE,
    MODEL_FORMAT,
    READABLE_FORMATS,
    WEIGHTS_FILE,
    InferenceModel,
    default_model_dir,
    hash_files,
    model_folder,
    read_summary,
)
from eqn.model.network import EnergyModel, start_at_base_rates
from eqn.model.training import Trainer, predict_energies, seed_everything

logger = logging.getLogger(__name__)

__all__ = [
    "CALIBRATION_FILE",
    "CONFIG_FILE",
    "DEFAULT_MODEL_DIR",
    "DEFAULT_MODEL_NAME",
    "EQN",
    "LABELS_FILE",
    "MODEL_FORMAT",
    "READABLE_FORMATS",
    "WEIGHTS_FILE",
    "load",
]


class EQN(InferenceModel):
    """An energy model over a fixed label set, estimator style.

    Parameters are those of :class:`eqn.config.ModelConfig`; pass a config, keyword
    arguments, or both (keywords override the config). Learned state ends in ``_``.

    >>> model = EQN(backbone="lstm", epochs=3).fit(splits.train, splits.dev)   # doctest: +SKIP
    >>> model.annotate("What a lovely surprise!")                              # doctest: +SKIP
    """

    # fp32, or fp16/bf16 under autocast: a setting of inference, not of the model.
    precision = "fp32"

    def __init__(self, config: ModelConfig | None = None, **params: Any) -> None:
        self.config = config.replace(**params) if config is not None else ModelConfig(**params)

    def with_precision(self, precision: str) -> EQN:
        """Compute energies in ``precision`` (fp32, fp16 or bf16); returns self.

        Half precision is for GPUs; check its energies against fp32 on your dev set
        (``benchmarks/gpu_throughput.py`` prints the largest difference)."""
        self.precision = check_precision(precision)
        return self

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
        device: str = "auto",
    ) -> EQN:
        """Train on ``train``, keeping the best epoch on ``dev``; returns ``self``.

        ``targets`` are the energies to regress (default: full labels of
        ``train``, eq. 1-2; pass relabelled energies for Model 2). With
        ``warm_start_from`` training starts from that model's weights instead of
        the pretrained ones.
        """
        config = self.config
        if dev is not None and dev.labels != train.labels:
            raise InputError("train and dev must share one label set, in the same order")
        used = np.flatnonzero(np.asarray(train.gold).any(axis=0))
        present = [train.labels[int(i)] for i in used]
        # A model continued from another already tells the labels apart: reviewers may
        # well choose one label in a batch (the held-out share judges the result).
        if len(present) < 2 and warm_start_from is None:
            found = f"only {present[0]!r}" if present else "none"
            raise InputError(
                f"the training texts carry {found} of the {len(train.labels)} labels: a "
                "model needs texts of at least two labels to tell them apart. Check the "
                "label column (and its separator), or add texts of the other labels"
            )
        if targets is None:
            targets = E.full_labels(train.gold, config.max_energy, train.intensity)
        targets = np.asarray(targets, dtype=np.float32)
        if targets.shape != train.gold.shape:
            raise InputError(f"targets have shape {targets.shape}, expected {train.gold.shape}")
        started = time.perf_counter()
        seed_everything(config.seed)
        model = self._build(train, warm_start_from, targets).to(resolve_device(device))
        dev_bundle = self._encoded(model, dev) if dev is not None else None
        items = model.backbone.encode(train.texts)
        trainer = Trainer(
            model,
            items,
            [model.backbone.item_length(item) for item in items],
            targets,
            train.gold,
            config,
            dev=dev_bundle,
            checkpoint_dir=Path(checkpoint_dir) if checkpoint_dir else None,
            progress=progress,
        )
        result = trainer.fit(resume=resume, max_steps=max_steps)
        # Learned state is set only now, once training has succeeded.
        self.model_ = model
        self.labels_ = tuple(train.labels)
        self.history_ = result.state.history
        self.best_epoch_ = result.state.best_epoch
        self.interrupted_ = result.interrupted
        self.warm_start_ = warm_start_from is not None
        self.n_train_ = len(train)
        self.train_seconds_ = result.state.seconds
        self._tune_thresholds(dev, dev_bundle, progress)
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _build(
        self, train: Dataset, warm_start_from: EQN | None, targets: np.ndarray | None = None
    ) -> EnergyModel:
        if warm_start_from is not None:
            known = warm_start_from.labels
            if train.labels[: len(known)] != known:
                raise InputError(
                    "a warm start needs the training data to have the starting model's "
                    "labels, in its order (new labels may follow them)"
                )
            # The starting model's backbone, vocabulary or tokenizer included (one rebuilt
            # from new texts would not fit its embeddings), under this model's head
            # settings (activation, dropout), then all its weights.
            start = warm_start_from._fitted()
            model = EnergyModel(copy.deepcopy(start.backbone), train.n_labels, self.config)
            weights = start.state_dict()
            if train.n_labels > len(known):  # new labels: only their output rows start fresh
                fresh, last = model.state_dict(), f"head.{len(model.head) - 1}"
                for name in (f"{last}.weight", f"{last}.bias"):
                    grown = fresh[name].clone()
                    grown[: len(known)] = weights[name]
                    weights[name] = grown
            model.load_state_dict(weights)
            return model
        backbone = B.build(self.config.backbone, self.config.backbone_options)
        backbone.prepare(train.texts)
        model = EnergyModel(backbone, train.n_labels, self.config)
        # What the head learns: the gold labels (M, S), or the energy targets on 0-1.
        config = self.config
        plain = config.objective in ("M", "S") or targets is None
        learned = train.gold if plain else np.asarray(targets) / config.max_energy
        start_at_base_rates(model, np.mean(learned, axis=0), config.output_activation)
        return model

    @staticmethod
    def _encoded(model: EnergyModel, dataset: Dataset) -> tuple[list[Any], list[int], np.ndarray]:
        items = model.backbone.encode(dataset.texts)
        return items, [model.backbone.item_length(i) for i in items], dataset.gold

    def _tune_thresholds(self, dev: Dataset | None, bundle: Any, progress: bool) -> None:
        """Thresholds tuned on dev (one global for macro F1, one per label), then the
        calibration maps fitted on the same dev energies."""
        self.calibration_ = None
        self.calibrated_threshold_ = None
        if dev is None or bundle is None:
            self.threshold_ = self.config.max_energy / 2
            self.label_thresholds_ = np.full(len(self.labels_), self.threshold_)
            self.thresholds_tuned_on_ = None
            return
        items, lengths, gold = bundle
        energies = self._energies_of_items(items, lengths, progress=progress)
        grid = E.energy_grid_for(energies, self.config.max_energy)
        self.threshold_ = E.tune_threshold(energies, gold, grid, keep_top=self.config.keep_top)
        self.label_thresholds_ = E.tune_label_thresholds(energies, gold, grid)
        self.thresholds_tuned_on_ = dev.name or "dev"
        self._fit_calibration(energies, gold, dev.name or "dev")

    def _fit_calibration(self, energies: np.ndarray, gold: np.ndarray, name: str) -> None:
        calibration = fit_calibration(energies, gold, self.labels_, self.config.max_energy, name)
        calibrated = calibration.apply(energies)
        grid = E.energy_grid_for(calibrated, self.config.max_energy)
        self.calibrated_threshold_ = E.tune_threshold(
            calibrated, gold, grid, keep_top=self.config.keep_top
        )
        self.calibration_ = calibration
        self._hash = None
        self.source_ = None  # no longer the saved model's outputs

    def calibrate(
        self, dev: Dataset, progress: bool = False, energies: np.ndarray | None = None
    ) -> EQN:
        """Fit the calibration maps (and the calibrated threshold) on ``dev``; returns self.

        For any fitted model, including one saved before calibration existed. The
        uncalibrated energies and threshold stay as they are. ``energies``: the
        model's uncalibrated energies of ``dev``, when already computed.
        """
        if dev.labels != self.labels:
            raise InputError("the calibration data's labels differ from the model's")
        if not len(dev):
            raise InputError("calibration needs at least one text with gold labels")
        if energies is None:
            energies = self.energies(dev.texts, progress=progress, calibrated=False)
        self._fit_calibration(energies, dev.gold, dev.name or "dev")
        return self

    @property
    def model_hash(self) -> str:
        """A short hash of the files that define this model's outputs (see
        :func:`eqn.model.inference.hash_files`): an in-memory model hashes the bytes
        :meth:`save` would write, so it keeps its hash when saved and loaded."""
        if self._hash is None and getattr(self, "source_", None) is None:
            self._hash = hash_files(self._saved_files())
        return super().model_hash

    def _saved_files(self) -> dict[str, bytes]:
        """The bytes of every file :meth:`save` writes (backbone assets aside)."""
        model = self._fitted()
        weights = {
            k: v.detach().cpu().contiguous().clone() for k, v in model.weights_to_save().items()
        }
        files = {
            CONFIG_FILE: json.dumps(self.state_summary(), indent=2).encode("utf-8"),
            LABELS_FILE: ("\n".join(self.labels_) + "\n").encode("utf-8"),
            WEIGHTS_FILE: save_tensors(weights, metadata={"format": MODEL_FORMAT}),
        }
        if self.calibration_ is not None:
            files[CALIBRATION_FILE] = json.dumps(self.calibration_.to_dict()).encode("utf-8")
        return files

    # -- inference -------------------------------------------------------------------
    def _fitted(self) -> EnergyModel:
        if not hasattr(self, "model_"):
            raise NotFittedError("this EQN model is not fitted yet: call fit() or EQN.load()")
        return self.model_

    def _check_fitted(self) -> None:
        self._fitted()

    def encode(self, texts: Sequence[str]) -> tuple[list[Any], list[int]]:
        """Tokenised items and their lengths, for :meth:`_energies_of_items`."""
        backbone = self._fitted().backbone
        items = backbone.encode(list(texts))
        return items, [backbone.item_length(item) for item in items]

    def _unclipped_energies(
        self, items: Sequence[Any], lengths: Sequence[int], batch_size: int, progress: bool
    ) -> np.ndarray:
        return predict_energies(
            self._fitted(), items, lengths, batch_size, progress, precision=self.precision
        )

    def _runs_on_accelerator(self) -> bool:
        return device_of(self._fitted()).type != "cpu"

    def relabel(self, dataset: Dataset, progress: bool = True) -> np.ndarray:
        """Label regression (eq. 3) of ``dataset`` with this model's own (uncalibrated) energies."""
        if dataset.labels != self.labels:
            raise InputError("the dataset's labels differ from the model's")
        energies = self.energies(dataset.texts, progress=progress, calibrated=False)
        return E.label_regression(dataset.gold, energies, self.config.max_energy, dataset.intensity)

    # -- persistence -------------------------------------------------------------------
    def save(self, directory: str | os.PathLike[str], force: bool = False) -> Path:
        """Write ``config.json``, ``labels.txt``, safetensors weights and backbone assets.

        The folder is written beside the target and renamed into place, so a
        failure leaves no half-written model. An existing folder is only
        replaced with ``force``.
        """
        model = self._fitted()
        target = Path(directory)
        if target.exists() and any(target.iterdir()) and not force:
            raise OutputExistsError(
                f"{target} already exists; pass force=True to replace it", parameter="force"
            )
        files = self._saved_files()
        with atomic_directory(target) as staging:
            for name, content in files.items():
                (staging / name).write_bytes(content)
            model.backbone.save_assets(staging)
            _keep_documents(target, staging)
        logger.info("model saved to %s", target)
        return target

    def to(self, device: str = "auto") -> EQN:
        """Run on ``device`` (auto, cpu, cuda, mps); returns self."""
        self._fitted().to(resolve_device(device))
        return self

    @classmethod
    def load(cls, directory: str | os.PathLike[str], device: str = "auto") -> EQN:
        """Load a model saved by :meth:`save`; energies are bit-identical on the same device."""
        source = model_folder(Path(directory))
        summary = read_summary(source)
        try:
            config = ModelConfig.from_dict(summary["config"])
        except (KeyError, TypeError, ValueError, EqnError) as error:
            raise ModelError(
                f"{source / CONFIG_FILE} is not a valid eqn model config: {error}"
            ) from None
        estimator = cls(config)
        estimator._read_saved_state(source, summary)
        torch.manual_seed(config.seed)
        backbone = B.build(config.backbone, config.backbone_options)
        try:
            backbone.load_assets(source)
        except EqnError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as error:  # JSON, UTF-8, missing
            raise ModelError(
                f"{source}: the {config.backbone} backbone's files are damaged or missing "
                f"({type(error).__name__}: {str(error)[:160]}); restore the model folder, or "
                "save the model again"
            ) from None
        model = EnergyModel(backbone, len(estimator.labels_), config)
        _load_weights(model, source / WEIGHTS_FILE)
        model.eval()
        model.to(resolve_device(device))
        estimator.model_ = model
        return estimator


def _load_weights(model: EnergyModel, path: Path) -> None:
    """Load safetensors weights into ``model``, refusing a damaged or mismatched file."""
    if not path.is_file():
        raise ModelError(f"{path} is missing: the model folder is incomplete")
    try:
        weights = load_file(str(path))
    except Exception as error:  # safetensors raises its own types for damaged files
        raise ModelError(
            f"{path} is damaged or truncated ({error}); save the model again"
        ) from None
    expected_missing = set(model.state_dict()) - set(model.weights_to_save())
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as error:
        mismatches = [line.strip() for line in str(error).splitlines() if "size mismatch" in line]
        first = mismatches[0] if mismatches else str(error).splitlines()[0]
        raise ModelError(
            f"{path} does not fit the network that {path.parent / CONFIG_FILE} describes: "
            f"{len(mismatches) or 'some'} weights differ in shape ({first}). The config was "
            "changed after training (lora_r, a size, the encoder); restore it"
        ) from None
    if unexpected or set(missing) - expected_missing:
        raise ModelError(
            f"{path} does not match the model: missing "
            f"{sorted(set(missing) - expected_missing)[:5]}, unexpected {unexpected[:5]}"
        )


def load(path: str | os.PathLike[str] | None = None, device: str = "auto") -> EQN:
    """Load a saved model (on ``device``) with torch; with no path, the default GoEmotions model."""
    return EQN.load(Path(path) if path is not None else default_model_dir(), device=device)


def _keep_documents(old: Path, staging: Path) -> None:
    """Markdown files of a model folder being replaced (its model card, a README)
    move to the new folder: the model is written anew, what people wrote about it
    is not eqn's to delete."""
    if not old.is_dir():
        return
    for document in old.glob("*.md"):
        if document.is_file() and not (staging / document.name).exists():
            shutil.copy2(document, staging / document.name)
