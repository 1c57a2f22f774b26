"""The training loop: length-bucketed batches, imbalance resampling, best-epoch
selection on dev, checkpoints and resume. The network and its losses are in
:mod:`eqn.model.network`."""

from __future__ import annotations

import copy
import logging
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eqn.core import energy as E
from eqn.errors import ConfigError, StageError
from eqn.logs import progress_bar
from eqn.model.config import ModelConfig
from eqn.model.device import computing_in, device_of, to_device
from eqn.model.inference import length_sorted_batches
from eqn.model.network import EnergyModel, compute_loss, positive_weights

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.pt"
_BUCKET_BATCHES = 50  # batches per sorting pool: similar lengths, still well shuffled


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, bucket: bool = True
) -> list[np.ndarray]:
    """Shuffled batches for one epoch, fixed by (seed, epoch).

    With ``bucket``, each pool of 50 batches is sorted by length before cutting,
    so batches hold texts of similar length and padding stays small.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    if bucket:
        lengths_array = np.asarray(lengths)
        pool = batch_size * _BUCKET_BATCHES
        order = np.concatenate(
            [
                chunk[np.argsort(lengths_array[chunk], kind="stable")]
                for chunk in np.array_split(order, max(1, int(np.ceil(len(order) / pool))))
            ]
        )
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if bucket:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def resample_indices(gold: np.ndarray, mode: str, seed: int) -> np.ndarray:
    """Training indices after over- or undersampling towards the median label count.

    Each sample is treated by its rarest label: oversampling repeats samples of
    rare labels (up to 10x); undersampling drops samples of frequent labels.
    """
    true = np.asarray(gold, dtype=bool)
    n = len(true)
    if mode not in ("oversample", "undersample"):
        return np.arange(n)
    counts = true.sum(axis=0).astype(np.float64)
    target = float(np.median(counts[counts > 0])) if (counts > 0).any() else 1.0
    ratio = np.where(true, target / np.clip(counts, 1, None)[None, :], 0.0).max(axis=1)
    ratio[~true.any(axis=1)] = 1.0
    rng = np.random.default_rng(seed)
    if mode == "oversample":
        ratio = np.clip(ratio, 1.0, 10.0)
        copies = np.floor(ratio).astype(int) + (rng.random(n) < ratio - np.floor(ratio))
        return np.repeat(np.arange(n), copies)
    keep = rng.random(n) < np.clip(ratio, 0.0, 1.0)
    return np.flatnonzero(keep)


def predict_energies(
    model: EnergyModel,
    items: Sequence[Any],
    lengths: Sequence[int],
    batch_size: int,
    progress: bool = False,
    description: str = "scoring",
    precision: str = "fp32",
) -> np.ndarray:
    """Energies for tokenised items: length-sorted, dynamically padded, inference mode,
    computed in ``precision`` (fp32, or fp16/bf16 under autocast)."""
    n_labels = model.head[-1].out_features
    result = np.zeros((len(items), n_labels), dtype=np.float32)
    was_training = model.training
    model.eval()
    device = device_of(model)
    with torch.inference_mode(), computing_in(precision, device):
        batches = length_sorted_batches(lengths, batch_size)
        with progress_bar(
            total=len(batches), desc=description, unit="batch", enabled=progress
        ) as bar:
            for chunk in batches:
                batch = to_device(model.backbone.collate([items[i] for i in chunk]), device)
                result[chunk] = model.to_energies(model(**batch)).float().cpu().numpy()
                bar.update(1)
    model.train(was_training)
    return result


def selection_score(energies: np.ndarray, gold: np.ndarray, multilabel: bool) -> float:
    """Dev score for picking the best epoch: macro F1 at a tuned threshold, or accuracy."""
    if not multilabel:
        return float(gold[np.arange(len(gold)), energies.argmax(axis=1)].mean())
    grid = E.energy_grid_for(energies)
    threshold = E.tune_threshold(energies, gold, grid=grid)
    return float(E.f1_per_label(E.classify_threshold(energies, threshold), gold).mean())


@dataclass
class TrainState:
    """Where training stands; saved in checkpoints."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_score: float = -np.inf
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    finished: bool = False


@dataclass
class FitResult:
    state: TrainState
    interrupted: bool


class Trainer:
    """The training loop of one model, in named steps: set up, restore, run epochs,
    score each on dev, keep the best, checkpoint.

    ``dev`` is (items, lengths, gold). With ``checkpoint_dir``, a checkpoint is
    written every ``config.checkpoint_every`` steps, at each epoch end and on
    Ctrl-C; ``resume`` continues from it. ``max_steps`` stops after that many
    optimiser steps in this call, leaving a checkpoint (for time-boxed jobs).
    """

    def __init__(
        self,
        model: EnergyModel,
        items: Sequence[Any],
        lengths: Sequence[int],
        targets: np.ndarray,
        gold: np.ndarray,
        config: ModelConfig,
        dev: tuple[Sequence[Any], Sequence[int], np.ndarray] | None = None,
        checkpoint_dir: Path | None = None,
        progress: bool = True,
        on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.model, self.items, self.config, self.dev = model, items, config, dev
        self.progress, self.on_epoch_end = progress, on_epoch_end
        self.multilabel = bool((np.asarray(gold).sum(axis=1) > 1).any())
        self.index = resample_indices(gold, config.imbalance, config.seed)
        if config.imbalance in ("oversample", "undersample"):
            logger.info(
                "%s: %d training samples become %d", config.imbalance, len(gold), len(self.index)
            )
        self.label_weights = (
            torch.from_numpy(positive_weights(gold, config.pos_weight_mean))
            if config.imbalance == "pos_weight"
            else None
        )
        self.device = device_of(model)
        if self.label_weights is not None:
            self.label_weights = self.label_weights.to(self.device)
        self.targets = torch.from_numpy(np.array(targets, dtype=np.float32))  # a writable copy
        self.gold = torch.as_tensor(np.asarray(gold, dtype=bool))
        self.sample_lengths = [lengths[i] for i in self.index]
        self.optimizer, self.scheduler = self._optimizer()
        self.state = TrainState()
        self.best_state: dict[str, torch.Tensor] | None = None
        self.checkpoint = checkpoint_dir / CHECKPOINT_FILE if checkpoint_dir else None
        if checkpoint_dir is not None:
            checkpoint_dir.mkdir(parents=True, exist_ok=True)

    def _optimizer(self) -> tuple[torch.optim.Optimizer, Any]:
        """AdamW over the head and the trainable backbone weights, linear warm-up and decay."""
        from transformers import get_linear_schedule_with_warmup

        config, model = self.config, self.model
        total_steps = int(np.ceil(len(self.index) / config.batch_size)) * config.epochs
        lr = config.learning_rate or model.backbone.default_lr()
        backbone_params = [p for p in model.backbone.parameters() if p.requires_grad]
        groups = [{"params": model.head.parameters(), "lr": config.head_learning_rate or lr}]
        if backbone_params:
            groups.append({"params": backbone_params, "lr": lr})
        optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
        warmup = int(config.warmup_ratio * total_steps)
        return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, total_steps)

    def restore(self) -> None:
        """Continue from the checkpoint, which must come from the same configuration."""
        if self.checkpoint is None or not self.checkpoint.is_file():
            raise StageError(
                f"nothing to resume: there is no {CHECKPOINT_FILE} in "
                f"{self.checkpoint.parent if self.checkpoint else 'the checkpoint folder'}; "
                "start again with resume=False",
                parameter="resume",
            )
        payload = torch.load(self.checkpoint, weights_only=False, map_location=self.device)
        if payload["config"] != self.config.to_dict():
            raise ConfigError(
                f"the checkpoint in {self.checkpoint.parent} was made with a different "
                "configuration; resume with the same options, or start afresh in another folder"
            )
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.state = TrainState(**payload["state"])
        self.best_state = payload["best_state"]
        torch.set_rng_state(payload["torch_rng"].cpu())
        logger.info("resumed at epoch %d, step %d", self.state.epoch + 1, self.state.step_in_epoch)

    def save(self) -> None:
        if self.checkpoint is None:
            return
        payload = {
            "config": self.config.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "state": self.state.__dict__,
            "best_state": self.best_state,
            "torch_rng": torch.get_rng_state(),
        }
        temporary = self.checkpoint.with_name(self.checkpoint.name + ".part")
        torch.save(payload, temporary)
        os.replace(temporary, self.checkpoint)
        logger.info(
            "checkpoint saved at epoch %d, step %d", self.state.epoch, self.state.step_in_epoch
        )

    def step(self, rows: np.ndarray) -> float:
        """One optimiser step on the training rows ``rows``; returns the loss."""
        model = self.model
        device = self.device
        batch = to_device(model.backbone.collate([self.items[i] for i in rows]), device)
        loss = compute_loss(
            model(**batch),
            self.targets[rows].to(device),
            self.gold[rows].to(device),
            self.config,
            self.label_weights,
        )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.item())

    def run_epoch(self, max_steps: int | None) -> tuple[float | None, bool]:
        """Train the current epoch from where it stands; (running loss, stopped early)."""
        config, state = self.config, self.state
        batches = make_batches(
            self.sample_lengths,
            config.batch_size,
            config.seed,
            state.epoch,
            config.bucket_by_length,
        )
        running: float | None = None
        started = time.perf_counter()
        with progress_bar(
            total=len(batches),
            initial=state.step_in_epoch,
            unit="batch",
            desc=f"epoch {state.epoch + 1}/{config.epochs}",
            enabled=self.progress,
        ) as bar:
            for positions in batches[state.step_in_epoch :]:
                if max_steps is not None and self.steps_this_call >= max_steps:
                    state.seconds += time.perf_counter() - started
                    return running, True
                loss = self.step(self.index[positions])
                state.step_in_epoch += 1
                state.global_step += 1
                self.steps_this_call += 1
                running = loss if running is None else 0.95 * running + 0.05 * loss
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4f}")
                if state.step_in_epoch % config.checkpoint_every == 0:
                    state.seconds += time.perf_counter() - started
                    started = time.perf_counter()
                    self.save()
        state.seconds += time.perf_counter() - started
        return running, False

    def end_epoch(self, running: float | None) -> None:
        """Score the epoch on dev, keep the best weights, record it and checkpoint."""
        state = self.state
        record: dict[str, Any] = {"epoch": state.epoch + 1, "train_loss": running}
        if self.dev is not None:
            dev_items, dev_lengths, dev_gold = self.dev
            energies = predict_energies(
                self.model,
                dev_items,
                dev_lengths,
                self.config.eval_batch_size,
                self.progress,
                "dev",
            )
            record["dev_score"] = selection_score(energies, dev_gold, self.multilabel)
            record["dev_metric"] = "macro_f1@tuned" if self.multilabel else "accuracy"
        score = record.get("dev_score", float(state.epoch))
        if score > state.best_score:
            state.best_score, state.best_epoch = score, state.epoch + 1
            self.best_state = copy.deepcopy(self.model.state_dict())
        state.history.append(record)
        logger.info("epoch %d: %s", state.epoch + 1, record)
        if self.on_epoch_end is not None:
            self.on_epoch_end(record)
        state.epoch += 1
        state.step_in_epoch = 0
        self.save()

    def fit(self, resume: bool = False, max_steps: int | None = None) -> FitResult:
        """Train to the end (or ``max_steps``); the model is left with its best weights."""
        if resume:
            self.restore()
        self.steps_this_call = 0
        self.model.train()
        try:
            while self.state.epoch < self.config.epochs and not self.state.finished:
                running, stopped = self.run_epoch(max_steps)
                if stopped:
                    self.save()
                    return FitResult(self.state, interrupted=True)
                self.end_epoch(running)
            self.state.finished = True
        except KeyboardInterrupt:
            logger.warning("interrupted: saving a checkpoint to resume from")
            self.save()
            raise
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        self.save()
        return FitResult(self.state, interrupted=False)
