"""The backbone protocol and the registry of backbone names.

A backbone turns texts into fixed-size vectors. It tokenises once
(:meth:`Backbone.encode`), pads per batch (:meth:`Backbone.collate`) and keeps
whatever it learned from the data (a vocabulary) as files beside the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn


class Backbone(nn.Module):
    """Base class of every backbone. Subclasses set ``name`` and ``Options``."""

    name: ClassVar[str]
    Options: ClassVar[type[Any]]
    default_learning_rate: ClassVar[float] = 1e-3

    def __init__(self, options: Any) -> None:
        super().__init__()
        self.options = options

    # -- data-dependent preparation -------------------------------------------
    def prepare(self, texts: Sequence[str]) -> None:
        """Learn what the backbone needs from the training texts (a vocabulary); build layers."""

    @property
    def output_dim(self) -> int:
        raise NotImplementedError

    # -- tokenisation and batching ---------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[Any]:
        """Tokenise texts once; one item per text."""
        raise NotImplementedError

    def item_length(self, item: Any) -> int:
        """Length used to bucket items of similar size into one batch."""
        return len(item)

    def collate(self, items: Sequence[Any]) -> dict[str, torch.Tensor]:
        """Pad a batch of items to its longest member."""
        raise NotImplementedError

    def forward(self, *args: Any, **batch: Any) -> torch.Tensor:  # (B, output_dim)
        """The batch from :meth:`collate`, as keyword arguments."""
        raise NotImplementedError

    # -- persistence -------------------------------------------------------------
    def save_assets(self, directory: Path) -> None:
        """Write what is not in the weights (vocabulary, tokenizer) into ``directory``."""

    def load_assets(self, directory: Path) -> None:
        """Read what :meth:`save_assets` wrote and build the layers, before weights load."""

    def weights_to_save(self) -> dict[str, torch.Tensor]:
        """The state to store; a backbone over frozen pretrained weights stores only its own."""
        return self.state_dict()

    def default_lr(self) -> float:
        return self.default_learning_rate
