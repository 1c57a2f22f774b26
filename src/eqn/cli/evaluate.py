"""``eqn evaluate``: a report folder for a model on a dataset split."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from eqn.cli.common import (
    DatasetOpt,
    DatasetOptions,
    DeviceOpt,
    ModelOpt,
    ProgressOpt,
    RuntimeOpt,
    console,
    fail,
    reporting_errors,
    with_dataset_options,
)

NAME = "evaluate"


@with_dataset_options
@reporting_errors
def command(
    dataset: DatasetOpt,
    model_path: ModelOpt = None,
    split: Annotated[str, typer.Option(help="Split to score: test, dev or train.")] = "test",
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path("eqn-report"),
    against: Annotated[
        Path | None, typer.Option(help="Another model: report the stability of energies.")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="A baseline model: per-label F1 beside the model's.")
    ] = None,
    max_eval: Annotated[int | None, typer.Option(help="Quick mode: dev/test subsets.")] = None,
    progress: ProgressOpt = True,
    device: DeviceOpt = "auto",
    runtime: RuntimeOpt = "auto",
    data: DatasetOptions = DatasetOptions(),
) -> None:
    """Write a report folder: metrics.json, report.md, figures and index.html."""
    from eqn.experiments.evaluate import evaluate_model
    from eqn.model.runtime import load_model

    if split not in ("train", "dev", "test"):
        fail(f"unknown split {split!r}; choose train, dev or test", "--split")
    splits = data.load(dataset).limit(None, max_eval, data.seed)
    result = evaluate_model(
        load_model(model_path, device, runtime),
        splits,
        split,
        out,
        against=load_model(against, device, runtime) if against else None,
        baseline=load_model(baseline, device, runtime) if baseline else None,
        model_name=str(model_path or "default model"),
        progress=progress,
    )
    table = Table(title=escape(f"{result['model']} on {result['dataset']} {split}"))
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result["headline"].items():
        table.add_row(key, f"{value:.4f}")
    console.print(table)
    console.print(f"report: {out / 'index.html'}", markup=False)
