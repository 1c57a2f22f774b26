"""Backbones: text encoders behind one protocol, found by name in a registry.

``ann``, ``cnn``, ``lstm``, ``textcnn`` and ``transformer`` (any Hugging Face
encoder; the packaged all-MiniLM-L6-v2 by default).
"""

from eqn.backbones import ann, cnn, lstm, textcnn, transformer  # noqa: F401  (registers them)
from eqn.backbones.base import (
    Backbone,
    ConfigError,
    available,
    backbone_class,
    build,
    make_options,
    register,
)

__all__ = [
    "Backbone",
    "ConfigError",
    "available",
    "backbone_class",
    "build",
    "make_options",
    "register",
]
