"""The network: a backbone, then the EQN head, and the training losses of EQN and
the paper's baselines."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from eqn.model.config import ModelConfig


def positive_weights(gold: np.ndarray, mean: float = 3.0) -> np.ndarray:
    """Per-label weights of gold positives: sqrt(1/frequency), scaled to ``mean``."""
    frequency = np.asarray(gold, dtype=bool).mean(axis=0)
    raw = 1.0 / np.sqrt(np.clip(frequency, 1e-6, None))
    return (raw * mean / raw.mean()).astype(np.float32)


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


def start_at_base_rates(model: EnergyModel, rates: np.ndarray, activation: str) -> None:
    """Start a sigmoid or softmax head's outputs at the base rates of what it learns
    (``rates``: each label's mean target on the 0-1 scale): log-odds for a sigmoid,
    log-frequencies for a softmax. Otherwise the first steps push every output down
    through the hidden layer instead of the bias; on 1,000 GoEmotions texts that left
    M's hidden features nearly constant (dev macro F1 at chance, even at 5 epochs), and
    a BCE energy head's too. A linear EQN head learns targets that are mostly 0, where a
    fresh bias already is."""
    if activation not in ("sigmoid", "softmax"):
        return
    rate = np.clip(np.asarray(rates, dtype=np.float64), 1e-4, 1 - 1e-4)
    bias = np.log(rate / (1 - rate)) if activation == "sigmoid" else np.log(rate)
    output = model.head[-1]
    assert isinstance(output, nn.Linear)
    with torch.no_grad():
        output.bias.copy_(torch.from_numpy(bias.astype(np.float32)))


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
