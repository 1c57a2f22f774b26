"""``eqn select``: the texts of a pool worth a human's label next."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from eqn.annotation.select import DEFAULT_STRATEGY
from eqn.cli.common import (
    DeviceOpt,
    ModelOpt,
    ProgressOpt,
    RuntimeOpt,
    err_console,
    refuse_options,
    reporting_errors,
)

NAME = "select"


@reporting_errors
def command(
    context: typer.Context,
    pool: Annotated[
        Path, typer.Argument(help="Unlabelled texts: a CSV/TSV/JSONL/Parquet/text file.")
    ],
    n: Annotated[int, typer.Option("-n", help="How many texts to choose.")] = 100,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Where the chosen rows go, annotated (default: POOL.selected.csv); "
            "--format label-studio writes tasks to review.",
        ),
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            help="uncertainty (labels nearest h), diverse (the most uncertain, spread over "
            "the energy space) or random."
        ),
    ] = DEFAULT_STRATEGY,
    exclude: Annotated[
        Path | None,
        typer.Option(
            help="A Label Studio or Argilla export, or a ratings table: its texts are "
            "already labelled."
        ),
    ] = None,
    text_col: Annotated[str, typer.Option("--text-col", help="Column holding the text.")] = "text",
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv, tsv, jsonl, parquet or label-studio.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the random strategy.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace an existing output.")] = False,
    model_path: ModelOpt = None,
    device: DeviceOpt = "auto",
    runtime: RuntimeOpt = "auto",
    progress: ProgressOpt = True,
) -> None:
    """Choose the texts of POOL whose human labels would teach the model most."""
    from eqn.annotation.select import check_selection, select_file
    from eqn.model.runtime import load_model

    suffix = "json" if fmt == "label-studio" else fmt or "csv"
    target = output or pool.with_name(f"{pool.stem}.selected.{suffix}")
    check_selection(pool, target, n, strategy, exclude, force)  # before the model loads
    if strategy != "random":
        refuse_options(context, ("seed",), f"used only with --strategy random, not {strategy}")
    model = load_model(model_path, device=device, runtime=runtime)
    chosen = select_file(model, pool, target, n, strategy, seed, text_col, exclude, fmt, force)
    err_console.print(
        f"wrote {target}: {len(chosen.indices)} texts chosen by {strategy} "
        f"(rank 1 first; uncertainty = distance of the nearest label to h)",
        markup=False,
    )
