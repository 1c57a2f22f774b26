"""The training loop: length-bucketed batches, the EQN and baseline losses,
imbalance handling, best-epoch selection on dev, checkpoints and resume."""

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
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from eqn import energy as E
from eqn.config import ModelConfig

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


def positive_weights(gold: np.ndarray, mean: float = 3.0) -> np.ndarray:
    """Per-label weights of gold positives: sqrt(1/frequency), scaled to ``mean``."""
    frequency = np.asarray(gold, dtype=bool).mean(axis=0)
    raw = 1.0 / np.sqrt(np.clip(frequency, 1e-6, None))
    return (raw * mean / raw.mean()).astype(np.float32)


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


class EnergyModel(nn.Module):
    """A backbone, then the EQN head: dense (ReLU, dropout), then linear with C outputs."""

    def __init__(self, backbone: nn.Module, n_labels: int, config: ModelConfig) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Sequential(
            nn.Linear(backbone.output_dim, config.dense_dim),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.dense_dim, n_labels),
        )
        self.activation = config.output_activation
        self.max_energy = config.max_energy

    def forward(self, **batch: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(**batch))

    def to_energies(self, outputs: torch.Tensor) -> torch.Tensor:
        if self.activation == "sigmoid":
            return self.max_energy * torch.sigmoid(outputs)
        if self.activation == "softmax":
            return self.max_energy * torch.softmax(outputs, dim=-1)
        return outputs

    def weights_to_save(self) -> dict[str, torch.Tensor]:
        state = {f"backbone.{k}": v for k, v in self.backbone.weights_to_save().items()}
        state.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
        return state


def compute_loss(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    gold: torch.Tensor,
    config: ModelConfig,
    label_weights: torch.Tensor | None,
) -> torch.Tensor:
    """The training loss of one batch.

    ``targets`` are energies (full labels or relabelled) for the ``energy``
    objective; the baselines train on ``gold`` alone.
    """
    if config.objective == "S":
        return F.cross_entropy(outputs, gold.float().argmax(dim=1), weight=label_weights)
    weights = torch.ones_like(outputs)
    if label_weights is not None:
        weights = torch.where(gold, label_weights.expand_as(outputs), weights)
    if config.objective == "M":
        per_element = F.binary_cross_entropy_with_logits(outputs, gold.float(), reduction="none")
    elif config.loss == "bce":
        soft = (targets / config.max_energy).clamp(0.0, 1.0)
        per_element = F.binary_cross_entropy_with_logits(outputs, soft, reduction="none")
    else:
        per_element = (outputs - targets) ** 2
    return (weights * per_element).mean()


def predict_energies(
    model: EnergyModel,
    items: Sequence[Any],
    lengths: Sequence[int],
    batch_size: int,
    progress: bool = False,
    description: str = "scoring",
) -> np.ndarray:
    """Energies for tokenised items: length-sorted, dynamically padded, inference mode."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    n_labels = model.head[-1].out_features
    result = np.zeros((len(items), n_labels), dtype=np.float32)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in tqdm(
            range(0, len(order), batch_size),
            desc=description,
            unit="batch",
            disable=not progress,
            leave=False,
        ):
            chunk = order[start : start + batch_size]
            batch = model.backbone.collate([items[i] for i in chunk])
            result[chunk] = model.to_energies(model(**batch)).float().numpy()
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


def _save_checkpoint(
    path: Path,
    model: EnergyModel,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: TrainState,
    best_state: dict[str, torch.Tensor] | None,
    config: ModelConfig,
) -> None:
    payload = {
        "config": config.to_dict(),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "state": state.__dict__,
        "best_state": best_state,
        "torch_rng": torch.get_rng_state(),
    }
    temporary = path.with_name(path.name + ".part")
    torch.save(payload, temporary)
    os.replace(temporary, path)
    logger.info("checkpoint saved at epoch %d, step %d", state.epoch, state.step_in_epoch)


def fit_model(
    model: EnergyModel,
    items: Sequence[Any],
    lengths: Sequence[int],
    targets: np.ndarray,
    gold: np.ndarray,
    config: ModelConfig,
    dev: tuple[Sequence[Any], Sequence[int], np.ndarray] | None = None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    max_steps: int | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> FitResult:
    """Train ``model`` in place and leave it holding its best weights (best dev epoch).

    ``dev`` is (items, lengths, gold). With ``checkpoint_dir``, a checkpoint is
    written every ``config.checkpoint_every`` steps, at each epoch end and on
    Ctrl-C; ``resume`` continues from it. ``max_steps`` stops after that many
    optimiser steps in this call, leaving a checkpoint (for time-boxed jobs).
    """
    multilabel = bool((np.asarray(gold).sum(axis=1) > 1).any())
    index = resample_indices(gold, config.imbalance, config.seed)
    if config.imbalance in ("oversample", "undersample"):
        logger.info("%s: %d training samples become %d", config.imbalance, len(gold), len(index))
    label_weights = None
    if config.imbalance == "pos_weight":
        label_weights = torch.from_numpy(positive_weights(gold, config.pos_weight_mean))

    targets_t = torch.as_tensor(np.asarray(targets, dtype=np.float32))
    gold_t = torch.as_tensor(np.asarray(gold, dtype=bool))
    sample_lengths = [lengths[i] for i in index]
    n_batches = int(np.ceil(len(index) / config.batch_size))
    total_steps = n_batches * config.epochs

    lr = config.learning_rate or model.backbone.default_lr()
    head_lr = config.head_learning_rate or lr
    backbone_params = [p for p in model.backbone.parameters() if p.requires_grad]
    groups = [{"params": model.head.parameters(), "lr": head_lr}]
    if backbone_params:
        groups.append({"params": backbone_params, "lr": lr})
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(config.warmup_ratio * total_steps), total_steps
    )

    state = TrainState()
    best_state: dict[str, torch.Tensor] | None = None
    checkpoint = checkpoint_dir / CHECKPOINT_FILE if checkpoint_dir else None
    if resume:
        if checkpoint is None or not checkpoint.is_file():
            raise FileNotFoundError(
                f"nothing to resume: no {CHECKPOINT_FILE} in {checkpoint_dir}; run without --resume"
            )
        payload = torch.load(checkpoint, weights_only=False)
        if payload["config"] != config.to_dict():
            raise ValueError(
                f"the checkpoint in {checkpoint_dir} was made with a different configuration; "
                "resume with the same options, or start afresh in another folder"
            )
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        state = TrainState(**payload["state"])
        best_state = payload["best_state"]
        torch.set_rng_state(payload["torch_rng"])
        logger.info("resumed at epoch %d, step %d", state.epoch + 1, state.step_in_epoch)
    elif checkpoint_dir is not None:
        checkpoint_dir.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        if checkpoint is not None:
            _save_checkpoint(checkpoint, model, optimizer, scheduler, state, best_state, config)

    steps_this_call = 0
    model.train()
    try:
        while state.epoch < config.epochs and not state.finished:
            batches = make_batches(
                sample_lengths, config.batch_size, config.seed, state.epoch, config.bucket_by_length
            )
            bar = tqdm(
                total=len(batches),
                initial=state.step_in_epoch,
                unit="batch",
                desc=f"epoch {state.epoch + 1}/{config.epochs}",
                disable=not progress,
            )
            started, texts_seen, running = time.perf_counter(), 0, None
            for batch_positions in batches[state.step_in_epoch :]:
                if max_steps is not None and steps_this_call >= max_steps:
                    save()
                    bar.close()
                    return FitResult(state, interrupted=True)
                rows = index[batch_positions]
                batch = model.backbone.collate([items[i] for i in rows])
                outputs = model(**batch)
                loss = compute_loss(outputs, targets_t[rows], gold_t[rows], config, label_weights)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                state.step_in_epoch += 1
                state.global_step += 1
                steps_this_call += 1
                texts_seen += len(rows)
                running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
                elapsed = time.perf_counter() - started
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4f}", texts_s=f"{texts_seen / elapsed:.0f}")
                if state.step_in_epoch % config.checkpoint_every == 0:
                    state.seconds += time.perf_counter() - started
                    started, texts_seen = time.perf_counter(), 0
                    save()
            bar.close()
            state.seconds += time.perf_counter() - started
            record: dict[str, Any] = {"epoch": state.epoch + 1, "train_loss": running}
            if dev is not None:
                dev_items, dev_lengths, dev_gold = dev
                dev_energies = predict_energies(
                    model, dev_items, dev_lengths, config.eval_batch_size, progress, "dev"
                )
                record["dev_score"] = selection_score(dev_energies, dev_gold, multilabel)
                record["dev_metric"] = "macro_f1@tuned" if multilabel else "accuracy"
            score = record.get("dev_score", float(state.epoch))
            if score > state.best_score:
                state.best_score, state.best_epoch = score, state.epoch + 1
                best_state = copy.deepcopy(model.state_dict())
            state.history.append(record)
            logger.info("epoch %d: %s", state.epoch + 1, record)
            if on_epoch_end is not None:
                on_epoch_end(record)
            state.epoch += 1
            state.step_in_epoch = 0
            save()
        state.finished = True
    except KeyboardInterrupt:
        logger.warning("interrupted: saving a checkpoint to resume from")
        save()
        raise
    if best_state is not None:
        model.load_state_dict(best_state)
    save()
    return FitResult(state, interrupted=False)
