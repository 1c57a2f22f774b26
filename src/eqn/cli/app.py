"""The Typer application: global options, and each command registered from its module."""

from __future__ import annotations

import logging
from typing import Annotated

import typer
from rich.logging import RichHandler

from eqn import __version__
from eqn.cli import (
    annotate,
    calibrate,
    compare,
    evaluate,
    explain,
    info,
    label_studio,
    select,
    serve,
    train,
)
from eqn.cli.common import console, err_console

app = typer.Typer(
    name="eqn",
    help="Micro-emotion annotation with energy scores (Expansion Quantization Network).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, markup=False)],
        force=True,
    )


def _print_version(asked: bool) -> None:
    if asked:
        console.print(f"eqn {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    configure_logging(verbose)


@app.command()
def version() -> None:
    """Print the eqn version."""
    console.print(f"eqn {__version__}")


for module in (
    annotate,
    explain,
    train,
    calibrate,
    evaluate,
    compare,
    select,
    serve,
    info,
    label_studio,
):
    app.command(name=module.NAME)(module.command)
