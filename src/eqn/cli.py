"""The ``eqn`` command line: a thin Typer layer over the library's functions."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from eqn import __version__
from eqn.data import DATASETS, DataError, DatasetSplits, ReaderOptions
from eqn.data import load as load_data

app = typer.Typer(
    name="eqn",
    help="Micro-emotion annotation with energy scores (Expansion Quantization Network).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
        force=True,
    )


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    _configure_logging(verbose)


def fail(message: str) -> None:
    """Print a clean error and exit with status 2 (bad input), without a traceback."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
    raise typer.Exit(2)


# Options shared by every command that reads a labelled dataset.
DatasetArg = Annotated[
    str,
    typer.Argument(
        help=f"A named dataset ({', '.join(DATASETS)}), a file, or a folder of split files."
    ),
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Folder holding a named dataset's files.")
]
TextColOpt = Annotated[str, typer.Option("--text-col", help="Column holding the text.")]
LabelColOpt = Annotated[str, typer.Option("--label-col", help="Column holding the label(s).")]
LabelSepOpt = Annotated[
    str, typer.Option("--label-sep", help="Separator between several labels in one cell.")
]
LabelsOpt = Annotated[
    str | None,
    typer.Option("--labels", help="Label names: a file (one per line) or a comma-separated list."),
]
SepOpt = Annotated[str | None, typer.Option("--sep", help="Field separator for .txt files.")]
NoHeaderOpt = Annotated[
    bool, typer.Option("--no-header", help="The file has no header; columns are text,labels.")
]
DropEmptyOpt = Annotated[
    bool, typer.Option("--drop-empty", help="Drop empty texts instead of failing.")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (splits and training).")]


def read_dataset(
    dataset: str,
    data_dir: Path | None = None,
    text_col: str = "text",
    label_col: str = "labels",
    label_sep: str = ",",
    labels: str | None = None,
    sep: str | None = None,
    no_header: bool = False,
    drop_empty: bool = False,
    seed: int = 0,
) -> DatasetSplits:
    """Load a dataset from CLI-style options, turning data errors into clean exits."""
    label_names: str | list[str] | None = labels
    if labels is not None and not Path(labels).is_file():
        label_names = [name.strip() for name in labels.split(",") if name.strip()]
    try:
        options = ReaderOptions(
            text_col=text_col,
            label_col=label_col,
            label_sep=label_sep or None,
            sep=sep,
            header=not no_header,
            column_names=(text_col, label_col) if no_header else None,
        )
        return load_data(
            dataset,
            data_dir=data_dir,
            options=options,
            labels=label_names,
            on_empty="drop" if drop_empty else "error",
            seed=seed,
        )
    except DataError as error:
        fail(str(error))
        raise  # unreachable: fail() exits


@app.command()
def version() -> None:
    """Print the eqn version."""
    console.print(f"eqn {__version__}")


@app.command()
def info(
    dataset: DatasetArg,
    data_dir: DataDirOpt = None,
    text_col: TextColOpt = "text",
    label_col: LabelColOpt = "labels",
    label_sep: LabelSepOpt = ",",
    labels: LabelsOpt = None,
    sep: SepOpt = None,
    no_header: NoHeaderOpt = False,
    drop_empty: DropEmptyOpt = False,
    seed: SeedOpt = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Describe a dataset: split sizes, labels and the gold label-count distribution."""
    splits = read_dataset(
        dataset, data_dir, text_col, label_col, label_sep, labels, sep, no_header, drop_empty, seed
    )
    summary = {split: splits[split].describe() for split in ("train", "dev", "test")}
    if as_json:
        console.print_json(json.dumps({"split_info": splits.split_info, **summary}))
        return
    table = Table(
        title=f"{dataset}: {len(splits.labels)} labels ({splits.split_info['method']} splits)"
    )
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
    console.print("labels: " + ", ".join(splits.labels))


if __name__ == "__main__":  # pragma: no cover
    app()
