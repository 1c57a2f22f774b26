"""The model: configuration, network, training loop and the ``EQN`` estimator.

Submodules load on first use, so reading a configuration does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eqn.model.config import ModelConfig
    from eqn.model.estimator import EQN, load

_LAZY = {
    "EQN": "eqn.model.estimator",
    "load": "eqn.model.estimator",
    "ModelConfig": "eqn.model.config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'eqn.model' has no attribute {name!r}")


__all__ = ["EQN", "ModelConfig", "load"]
