"""Model and training configuration: frozen dataclasses, validated once, stored as JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from eqn.backbones.registry import make_options, options_to_dict
from eqn.core.scale import MAX_ENERGY
from eqn.errors import ConfigError

Objective = Literal["energy", "S", "M"]
Loss = Literal["mse", "bce"]
Imbalance = Literal["none", "pos_weight", "oversample", "undersample"]

OBJECTIVES = ("energy", "S", "M")
LOSSES = ("mse", "bce")
IMBALANCES = ("none", "pos_weight", "oversample", "undersample")


# Inference precision: fp32, or autocast to half precision (weights stay fp32).
PRECISIONS = ("fp32", "fp16", "bf16")


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(
            f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}",
            parameter="precision",
        )
    return precision


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a model and how it is trained.

    * ``objective``: ``energy`` is the EQN head (dense, then linear with C
      outputs) trained on full labels; ``S`` (softmax cross-entropy, single-label
      data) and ``M`` (sigmoid BCE, multi-label data) are the paper's baselines.
    * ``loss`` (``energy`` only): ``mse`` on 0..max_energy (the paper), or ``bce``
      on full labels scaled to [0, 1], whose energies are max_energy x sigmoid.
    * ``imbalance``: ``pos_weight`` weighs gold positives by sqrt(1/frequency),
      scaled to a mean of ``pos_weight_mean`` (negatives weigh 1); ``oversample``
      and ``undersample`` resample the training set (paper step 1.1).
    """

    backbone: str = "transformer"
    # A mapping when given; stored as the backbone's frozen, validated options.
    backbone_options: Any = field(default_factory=dict)
    objective: Objective = "energy"
    loss: Loss = "mse"
    imbalance: Imbalance = "pos_weight"
    pos_weight_mean: float = 3.0
    max_energy: float = MAX_ENERGY
    dense_dim: int = 256
    dropout: float = 0.1
    epochs: int = 2
    batch_size: int = 32
    eval_batch_size: int = 128
    learning_rate: float | None = None
    head_learning_rate: float | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    bucket_by_length: bool = True
    keep_top: bool = True
    seed: int = 0
    checkpoint_every: int = 200

    def __post_init__(self) -> None:
        # The complete, frozen options, so the config cannot change after validation
        # and its JSON says exactly what ran.
        object.__setattr__(
            self, "backbone_options", make_options(self.backbone, self.backbone_options)
        )
        choices = {"objective": OBJECTIVES, "loss": LOSSES, "imbalance": IMBALANCES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}"
                )
        positives = {
            "max_energy": self.max_energy,
            "dense_dim": self.dense_dim,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "eval_batch_size": self.eval_batch_size,
            "pos_weight_mean": self.pos_weight_mean,
            "checkpoint_every": self.checkpoint_every,
        }
        for name, value in positives.items():
            if not value > 0:
                raise ConfigError(f"{name} must be positive, got {value!r}")
        for name in ("learning_rate", "head_learning_rate"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be positive, got {value!r}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"weight_decay must be >= 0, got {self.weight_decay!r}")

    @property
    def output_activation(self) -> Literal["linear", "sigmoid", "softmax"]:
        """How raw outputs become energies: identity, or max_energy x sigmoid/softmax."""
        if self.objective == "S":
            return "softmax"
        if self.objective == "M" or self.loss == "bce":
            return "sigmoid"
        return "linear"

    def replace(self, **changes: Any) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["backbone_options"] = options_to_dict(self.backbone_options)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown config key(s): {', '.join(unknown)}")
        return cls(**data)
