"""The registry of backbone names: one module per backbone, imported when first asked for.

Names resolve lazily, so that configurations can be read and ``eqn --help`` can
run without importing torch; building a backbone imports its module.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any

from eqn.errors import ConfigError

if TYPE_CHECKING:
    from eqn.backbones.base import Backbone

# name -> module that defines (and registers) it
BUILTIN = {
    "ann": "eqn.backbones.ann",
    "cnn": "eqn.backbones.cnn",
    "lstm": "eqn.backbones.lstm",
    "textcnn": "eqn.backbones.textcnn",
    "transformer": "eqn.backbones.transformer",
}
_REGISTRY: dict[str, type[Backbone]] = {}


def register(cls: type[Backbone]) -> type[Backbone]:
    """Class decorator: make a backbone available by its ``name``."""
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    return sorted(set(BUILTIN) | set(_REGISTRY))


def backbone_class(name: str) -> type[Backbone]:
    if name not in _REGISTRY and name in BUILTIN:
        importlib.import_module(BUILTIN[name])
    if name not in _REGISTRY:
        raise ConfigError(
            f"unknown backbone {name!r}; available backbones: {', '.join(available())}",
            parameter="backbone",
        )
    return _REGISTRY[name]


def make_options(name: str, options: Any = None) -> Any:
    """Validated, frozen options for backbone ``name`` from a mapping (unknown keys are
    refused by name), or the options object itself."""
    from eqn.backbones.options import BUILTIN_OPTIONS

    # Built-in options are read without importing the backbone (and torch).
    kind = _REGISTRY[name].Options if name in _REGISTRY else BUILTIN_OPTIONS.get(name)
    if kind is None:
        kind = backbone_class(name).Options
    if isinstance(options, kind):
        return options
    fields = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(options or {}) - fields)
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for backbone {name!r}; "
            f"its options are: {', '.join(sorted(fields))}"
        )
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in (options or {}).items()}
    return kind(**values)


def build(name: str, options: Any = None) -> Backbone:
    """A fresh, unprepared backbone by registry name."""
    return backbone_class(name)(make_options(name, options))


def options_to_dict(options: Any) -> dict[str, Any]:
    return {
        k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(options).items()
    }
