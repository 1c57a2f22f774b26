"""The ``eqn`` command line: a thin Typer layer over the library's functions, one
module per command. Only this package speaks of flags and exit codes."""

from eqn.cli.app import app

__all__ = ["app"]
