"""Lazy attributes for packages whose members import torch: ``import eqn`` stays fast."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_attributes(package: str, members: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``members[name]`` on first use."""

    def __getattr__(name: str) -> Any:
        if name in members:
            return getattr(importlib.import_module(members[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
