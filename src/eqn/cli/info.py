"""``eqn info``: describe a dataset."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from eqn.cli.common import (
    DatasetArg,
    DatasetOptions,
    console,
    reporting_errors,
    with_dataset_options,
)

NAME = "info"


@with_dataset_options
@reporting_errors
def command(
    dataset: DatasetArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    data: DatasetOptions = DatasetOptions(),
) -> None:
    """Describe a dataset: split sizes, labels and the gold label-count distribution."""
    splits = data.load(dataset)
    summary = {split: splits[split].describe() for split in ("train", "dev", "test")}
    if as_json:
        console.print_json(json.dumps({"split_info": splits.split_info, **summary}))
        return
    method = splits.split_info["method"]
    table = Table(title=f"{escape(dataset)}: {len(splits.labels)} labels ({method} splits)")
    table.add_column("split")
    table.add_column("rows", justify="right")
    counts = sorted({k for s in summary.values() for k in s["labels_per_sample"]})
    for k in counts:
        table.add_column(f"{k} label{'s' if k != 1 else ''}", justify="right")
    for split, described in summary.items():
        table.add_row(
            split,
            str(described["rows"]),
            *(str(described["labels_per_sample"].get(k, 0)) for k in counts),
        )
    console.print(table)
    console.print("labels: " + ", ".join(splits.labels), markup=False)
