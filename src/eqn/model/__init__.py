"""The model: configuration, network, training loop and the ``EQN`` estimator.

Submodules load on first use, so reading a configuration does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eqn.lazy import lazy_attributes

if TYPE_CHECKING:
    from eqn.model.config import ModelConfig
    from eqn.model.estimator import EQN
    from eqn.model.runtime import load

_LAZY = {
    "EQN": "eqn.model.estimator",
    "load": "eqn.model.runtime",
    "ModelConfig": "eqn.model.config",
}


__getattr__ = lazy_attributes("eqn.model", _LAZY)

__all__ = ["EQN", "ModelConfig", "load"]
