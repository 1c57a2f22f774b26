"""What every command shares: consoles, error reporting, and the dataset options.

Library errors speak in library terms and name the parameter that fixes them;
:func:`fail` turns that parameter into this CLI's flag. The dataset options are
declared once in :data:`DATASET_OPTIONS` and added to a command by
:func:`with_dataset_options`.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from eqn.errors import EqnError

# Text that came from users (file names, column names, dataset names) is never
# read as markup or emoji codes.
console = Console(emoji=False, highlight=False)
err_console = Console(stderr=True, emoji=False, highlight=False)

# Library parameter -> the flag that sets it.
PARAMETER_FLAGS = {
    "force": "--force",
    "resume": "--resume",
    "in_place": "--in-place",
    "text_col": "--text-col",
    "label_col": "--label-col",
    "labels": "--labels",
    "sep": "--sep",
    "drop_empty": "--drop-empty",
    "data_dir": "--data-dir",
    "format": "--format",
    "threshold": "--threshold",
    "backbone": "--backbone",
    "model": "--model",
    "encoding": "--encoding",
    "model_name": "--model-name",
    "device": "--device",
    "runtime": "--runtime",
    "engine": "--engine",
    "actors": "--ray-actors",
    "label": "--label",
    "batch_size": "--batch-size",
    "fmt": "--format",
    "output": "--output",
    "chunk_rows": "--chunk-rows",
    "label_sep": "--label-sep",
    "max_steps": "--max-steps",
    "teachers": "--teachers",
    "warm_start": "--warm-start",
    "recipe": "--recipe",
    "train_after": "--train-after",
    "strategy": "--strategy",
    "exclude": "--exclude",
    "n": "-n",
    "add_labels": "--add-labels",
}
# The library's words for an argument ("pass force=True"), in the CLI's ("use --force").
_API_VALUE = re.compile(r"\b([a-z_]+)='([^']*)'")
_API_NAME = re.compile(r"\b([Ss]et|[Pp]ass|[Gg]ive) ([a-z]+_[a-z_]+)\b")
_API_ARGUMENT = re.compile(r"\b(pass |set |with )?([a-z_]+)=(True|False)\b")

EXIT_BAD_INPUT = 2


def in_cli_words(message: str) -> str:
    """A library message with its arguments named as flags: ``pass force=True`` becomes
    ``use --force``, ``resume=False`` becomes ``without --resume``."""

    def as_flag(match: re.Match[str]) -> str:
        verb, name, value = match.groups()
        flag = PARAMETER_FLAGS.get(name)
        if flag is None:
            return match.group(0)
        if value == "False":
            return f"without {flag}"
        return f"{'with' if verb == 'with ' else 'use'} {flag}" if verb else flag

    def named(match: re.Match[str]) -> str:
        verb, name = match.groups()
        flag = PARAMETER_FLAGS.get(name)
        return f"{verb} {flag}" if flag else match.group(0)

    def valued(match: re.Match[str]) -> str:
        name, value = match.groups()
        flag = PARAMETER_FLAGS.get(name)
        return f"{flag} {value}" if flag else match.group(0)

    message = _API_VALUE.sub(valued, _API_ARGUMENT.sub(as_flag, message))
    return _API_NAME.sub(named, message)


def fail(message: str, flag: str | None = None) -> NoReturn:
    """Print a clean error (and the flag that fixes it) and exit with status 2."""
    message = in_cli_words(message)
    hint = f" (option: {flag})" if flag and flag not in message else ""
    err_console.print(
        f"[bold red]error:[/] {escape(message)}{escape(hint)}", markup=True, soft_wrap=True
    )
    raise typer.Exit(EXIT_BAD_INPUT)


def refuse_options(
    context: typer.Context, names: typing.Collection[str], why: str, fix: str | None = None
) -> None:
    """Fail if the user set any of ``names`` (parameter names) on the command line or
    through the environment: options a command would ignore must not pass silently.
    The message: the flags, ``why``, then ``fix`` (default: leave them out)."""
    given = [
        "/".join([*param.opts, *param.secondary_opts])
        for param in context.command.params
        if param.name in names
        and getattr(context.get_parameter_source(param.name), "name", None)
        in ("COMMANDLINE", "ENVIRONMENT")
    ]
    if given:
        fix = fix or f"leave {'them' if len(given) > 1 else 'it'} out"
        fail(f"{', '.join(given)}: {why}; {fix}")


def fail_with(error: EqnError | FileExistsError | FileNotFoundError) -> NoReturn:
    parameter = getattr(error, "parameter", None)
    fail(str(error), PARAMETER_FLAGS.get(parameter) if parameter else None)


F = TypeVar("F", bound=Callable[..., Any])


def reporting_errors(func: F) -> F:
    """Library errors end the command with their message, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (EqnError, FileExistsError, FileNotFoundError) as error:
            fail_with(error)

    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# Dataset options, declared once


@dataclass(frozen=True)
class DatasetOptions:
    """How a command reads a labelled dataset (a name, a file or a folder)."""

    data_dir: Path | None = None
    text_col: str = "text"
    label_col: str = "labels"
    label_sep: str = ","
    labels: str | None = None
    sep: str | None = None
    no_header: bool = False
    drop_empty: bool = False
    graded: float | None = None
    encoding: str = "utf-8"
    seed: int = 0

    def label_names(self) -> str | list[str] | None:
        """``--labels``: a file of names, or names separated by commas."""
        if self.labels is not None and not Path(self.labels).is_file():
            return [name.strip() for name in self.labels.split(",") if name.strip()]
        return self.labels

    def reader_options(self) -> Any:
        """The :class:`eqn.data.ReaderOptions` these flags describe."""
        from eqn.data import ReaderOptions, read_label_names

        graded: dict[str, Any] = {}
        if self.graded is not None:
            label_names = self.label_names()
            if label_names is None:
                fail("graded labels need the names of their columns", "--labels")
            graded = {
                "intensity_columns": read_label_names(label_names),
                "intensity_scale": self.graded,
            }
        return ReaderOptions(
            **graded,
            encoding=self.encoding,
            text_col=self.text_col,
            label_col=self.label_col,
            label_sep=self.label_sep or None,
            sep=self.sep,
            header=not self.no_header,
            column_names=(self.text_col, self.label_col) if self.no_header else None,
        )

    def load(self, dataset: str) -> Any:
        """The dataset's splits, through :func:`eqn.data.load_splits`."""
        from eqn.data import load_splits

        return load_splits(
            dataset,
            data_dir=self.data_dir,
            options=self.reader_options(),
            labels=self.label_names(),
            on_empty="drop" if self.drop_empty else "error",
            seed=self.seed,
        )


DATASET_OPTIONS: dict[str, tuple[Any, Any]] = {
    "data_dir": (
        Annotated[
            Path | None, typer.Option("--data-dir", help="Folder holding a named dataset's files.")
        ],
        None,
    ),
    "text_col": (
        Annotated[str, typer.Option("--text-col", help="Column holding the text.")],
        "text",
    ),
    "label_col": (
        Annotated[str, typer.Option("--label-col", help="Column holding the label(s).")],
        "labels",
    ),
    "label_sep": (
        Annotated[
            str, typer.Option("--label-sep", help="Separator between several labels in one cell.")
        ],
        ",",
    ),
    "labels": (
        Annotated[
            str | None,
            typer.Option(
                "--labels", help="Label names: a file (one per line) or a comma-separated list."
            ),
        ],
        None,
    ),
    "sep": (
        Annotated[str | None, typer.Option("--sep", help="Field separator for .txt files.")],
        None,
    ),
    "no_header": (
        Annotated[
            bool,
            typer.Option("--no-header", help="The file has no header; columns are text,labels."),
        ],
        False,
    ),
    "drop_empty": (
        Annotated[bool, typer.Option("--drop-empty", help="Drop empty texts instead of failing.")],
        False,
    ),
    "graded": (
        Annotated[
            float | None,
            typer.Option(
                "--graded",
                help="Graded labels: each label in --labels is a numeric column from 0 to this "
                "scale (e.g. 3, or 1 for vote fractions), mapped onto energies 0-10.",
            ),
        ],
        None,
    ),
    "encoding": (
        Annotated[str, typer.Option("--encoding", help="Text encoding of the files (UTF-8).")],
        "utf-8",
    ),
    "seed": (Annotated[int, typer.Option("--seed", help="Random seed (splits and training).")], 0),
}


def with_dataset_options(func: F) -> F:
    """Add the dataset options to a command; it receives them as ``data: DatasetOptions``."""
    # Annotations are strings under postponed evaluation: resolve them where the
    # command is defined, since Typer reads them from this wrapper.
    hints = typing.get_type_hints(func, include_extras=True)
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(name, p.annotation))
        for name, p in inspect.signature(func).parameters.items()
        if name != "data"
    ]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, (kind, default) in DATASET_OPTIONS.items()
    ]

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        data = DatasetOptions(**{name: kwargs.pop(name) for name in DATASET_OPTIONS})
        return func(data=data, **kwargs)

    wrapper.__signature__ = inspect.Signature(own + added, return_annotation=None)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in own + added}
    del wrapper.__wrapped__  # Typer must read this signature, not the original's
    return wrapper  # type: ignore[return-value]


def parse_key_values(pairs: list[str], flag: str) -> dict[str, Any]:
    """``key=value`` pairs; values are read as JSON when they parse, else as strings."""
    options: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            fail(f"{flag} needs key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


ProgressOpt = Annotated[bool, typer.Option(help="Show progress bars.")]
DeviceOpt = Annotated[
    str,
    typer.Option(help="auto (a GPU when there is one), cpu, cuda or mps."),
]
RuntimeOpt = Annotated[
    str,
    typer.Option(
        help="auto (onnx-int8 for transformer models on the CPU, else torch), torch, "
        "onnx (fp32: the model's own energies) or onnx-int8 (about twice as fast; a "
        "text's energies do not depend on its batch). The ONNX export is cached in the "
        "user's cache folder."
    ),
]
PrecisionOpt = Annotated[
    str,
    typer.Option(
        help="fp32, or fp16/bf16 under autocast (runtime torch, for GPUs; check the drift "
        "with benchmarks/gpu_throughput.py)."
    ),
]
ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", "-m", help="Model folder (default: the shipped GoEmotions model)."),
]
DatasetArg = Annotated[
    str, typer.Argument(help="A named dataset (goemotions, 6emotions), a file, or a folder.")
]
DatasetOpt = Annotated[
    str, typer.Option("--dataset", "-d", help="A named dataset, a file, or a folder of splits.")
]
