"""Backbones: text encoders behind one protocol (:mod:`eqn.backbones.base`), found
by name in a registry (:mod:`eqn.backbones.registry`).

``ann``, ``cnn``, ``lstm``, ``textcnn`` and ``transformer`` (any Hugging Face
encoder; the packaged all-MiniLM-L6-v2 by default), one module each. Modules
load when a backbone is first asked for, so this package does not import torch.
"""

from eqn.backbones.registry import (
    available,
    backbone_class,
    build,
    make_options,
    options_to_dict,
    register,
)
from eqn.errors import ConfigError

__all__ = [
    "ConfigError",
    "available",
    "backbone_class",
    "build",
    "make_options",
    "options_to_dict",
    "register",
]
