"""Typed errors, in library terms.

Every error eqn raises on purpose is an :class:`EqnError`. Its message names the
problem and the fix in the words of the Python API (``force=True``,
``text_col``); ``parameter`` names the argument that fixes it, so the CLI can
speak of its flag and the service of its field without rewording the message.
"""

from __future__ import annotations


class EqnError(Exception):
    """Base of eqn's errors. ``parameter``: the argument that fixes it, if one does."""

    def __init__(self, message: str, *, parameter: str | None = None) -> None:
        super().__init__(message)
        self.parameter = parameter


class InputError(EqnError, ValueError):
    """Input data that cannot be used as it is: a file, a column, a text, a value."""


# The name earlier releases exported; the same class.
DataError = InputError


class LimitError(InputError):
    """Input larger than an allowed limit (rows, bytes, texts)."""


class ConfigError(EqnError, ValueError):
    """A configuration value that cannot be used; the message says which and why."""


class ModelError(EqnError, ValueError):
    """A model folder that cannot be loaded, or a model used before it is fitted."""


class NotFittedError(ModelError):
    """The model has not been fitted or loaded yet."""


class StageError(EqnError, RuntimeError):
    """A pipeline stage cannot run as asked; the message says what is missing."""


class OutputExistsError(EqnError, FileExistsError):
    """An output is already there and replacing it was not allowed."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a long job; ``rows_kept`` finished rows wait in ``where`` to resume."""

    def __init__(self, rows_kept: int, where: str) -> None:
        super().__init__(f"interrupted: {rows_kept} finished rows are kept in {where}")
        self.rows_kept = rows_kept
        self.where = where


__all__ = [
    "Interrupted",
    "ConfigError",
    "DataError",
    "EqnError",
    "InputError",
    "LimitError",
    "ModelError",
    "NotFittedError",
    "OutputExistsError",
    "StageError",
]
