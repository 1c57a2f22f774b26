"""Readers: every labelled file format, used by training, evaluation and the service.

Readers accept CSV, TSV, TXT (with a separator), JSONL and Parquet through
:class:`ReaderOptions`; the GoEmotions and 6emotions formats are two
configurations of it. Each returns a :class:`~eqn.data.table.Dataset` or raises
an :class:`~eqn.errors.InputError` that names the file, the line and the fix.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from eqn.data.chunks import count_rows, iter_chunks
from eqn.data.formats import (
    ANNOTATION_FORMATS,
    FORMATS,
    OUTPUT_FORMATS,
    SUFFIX_FORMATS,
    decode_text,
    detect_format,
    jsonl_record,
    missing_column_error,
    parser_problem,
)
from eqn.data.splits import stratified_split
from eqn.data.table import (
    SPLITS,
    Dataset,
    DatasetSplits,
    ReadReport,
    check_label_names,
    sorted_label_names,
)
from eqn.errors import InputError

# Re-exported: formats and streaming used to live here.
__all__ = [
    "ANNOTATION_FORMATS",
    "FORMATS",
    "OUTPUT_FORMATS",
    "SUFFIX_FORMATS",
    "ReaderOptions",
    "count_rows",
    "detect_format",
    "iter_chunks",
    "load_files",
    "missing_column_error",
    "read_label_names",
    "read_table",
]

logger = logging.getLogger(__name__)

_INTEGER = re.compile(r"^[+-]?\d+$")
_MAX_LISTED_ROWS = 10
# Integer label ids with no names become names 0..highest; a typo must not make millions.
MAX_UNNAMED_IDS = 10_000
# ... and ids 0..highest must be mostly used: 0, 5, 9999 is a typo, not 10,000 labels.
UNUSED_ID_SLACK = 32

LabelFormat = Literal["auto", "names", "ids"]
OnEmpty = Literal["error", "drop"]


@dataclass(frozen=True)
class ReaderOptions:
    """How to read one tabular file. Named datasets are fixed configurations of this."""

    text_col: str = "text"
    label_col: str = "labels"
    label_sep: str | None = ","
    label_format: LabelFormat = "auto"
    fmt: Literal["auto", "csv", "tsv", "txt", "jsonl", "parquet"] = "auto"
    sep: str | None = None
    header: bool = True
    column_names: tuple[str, ...] | None = None
    quoting: Literal["minimal", "none"] | None = None
    # Graded labels: one numeric column per label (these names), values 0..intensity_scale.
    intensity_columns: tuple[str, ...] | None = None
    intensity_scale: float | None = None
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        if self.label_format not in ("auto", "names", "ids"):
            raise InputError(
                f"label_format must be 'auto', 'names' or 'ids', got {self.label_format!r}"
            )
        if not self.header and not self.column_names:
            raise InputError("a file without a header needs column_names, e.g. ('text', 'labels')")
        if self.column_names is not None:
            object.__setattr__(self, "column_names", tuple(self.column_names))
        if (self.intensity_columns is None) != (self.intensity_scale is None):
            raise InputError(
                "graded labels need both the label columns and their scale "
                "(intensity_columns and intensity_scale)"
            )
        if self.intensity_columns is not None:
            object.__setattr__(self, "intensity_columns", tuple(self.intensity_columns))
            scale = self.intensity_scale
            if not (isinstance(scale, (int, float)) and np.isfinite(scale) and scale > 0):
                raise InputError(f"intensity_scale must be a positive number, got {scale!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------
# Label names


def read_label_names(source: str | os.PathLike[str] | Sequence[str]) -> tuple[str, ...]:
    """Label names from a list, or from a text file with one name per line."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"label file {path} does not exist; give one name per line")
        names = tuple(line.strip() for line in decode_text(path.read_bytes(), path)[0].splitlines())
        names = tuple(name for name in names if name)
        check_label_names(names, source=str(path))
        return names
    names = tuple(str(name) for name in source)
    check_label_names(names)
    return names


# ---------------------------------------------------------------------------
# Reading raw rows


@dataclass
class _RawRows:
    """Texts and label tokens as read, before label names are resolved."""

    path: Path
    texts: list[str]
    tokens: list[list[str]]
    lines: list[int]
    report: ReadReport
    intensity: np.ndarray | None = None
    intensity_columns: tuple[str, ...] = ()


def _detect_format(path: Path, options: ReaderOptions) -> str:
    return detect_format(path, None if options.fmt == "auto" else options.fmt)


def read_frame(path: Path, options: ReaderOptions) -> tuple[pd.DataFrame, list[int], int]:
    """The file as a DataFrame of strings, the file line of each row, replaced bytes."""
    if not path.is_file():
        raise InputError(f"{path} does not exist or is not a file")
    fmt = _detect_format(path, options)
    if fmt == "parquet":
        frame = pd.read_parquet(path)
        if frame.empty:
            raise InputError(f"{path} is empty: it has no rows")
        return frame, list(range(1, len(frame) + 1)), 0

    raw = path.read_bytes()
    if not raw.strip():
        raise InputError(f"{path} is empty: it has no rows")
    text, replaced = decode_text(raw, path, options.encoding)

    if fmt == "jsonl":
        records, lines = [], []
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            records.append(jsonl_record(line, line_no, path))
            lines.append(line_no)
        return pd.DataFrame.from_records(records), lines, replaced

    sep = options.sep or {"csv": ",", "tsv": "\t"}.get(fmt)
    if sep is None:
        raise InputError(f"{path}: a .txt file needs a field separator, e.g. ';'", parameter="sep")
    quoting = options.quoting or ("minimal" if fmt == "csv" else "none")
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=0 if options.header else None,
            names=list(options.column_names or ()) if not options.header else None,
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_MINIMAL if quoting == "minimal" else csv.QUOTE_NONE,
            engine="c",
            skip_blank_lines=True,
        )
    except pd.errors.ParserError as error:
        raise InputError(
            parser_problem(path, error, sep, options.header)
            + f" (separator {sep!r}, quoting {quoting!r}); or fix that line",
            parameter="sep",
        ) from None
    first_line = 2 if options.header else 1
    return frame, list(range(first_line, first_line + len(frame))), replaced


def _is_empty_text(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return not str(value).strip()


def label_tokens(value: Any, sep: str | None) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, (int, np.integer)):
        return [str(int(value))]
    tokens = str(value).split(sep) if sep else [str(value)]
    return [token.strip() for token in tokens if token.strip()]


LIKELY_LABEL_SEPARATORS = ("|", ";", ",")


def _warn_unsplit_labels(tokens: Sequence[Sequence[str]], path: Path) -> None:
    """Warn when label cells still hold a separator-like character after splitting: a
    cell such as ``fear|surprise`` read with the default separator becomes one label."""
    for mark in LIKELY_LABEL_SEPARATORS:
        cells = [token for row in tokens for token in row if mark in token]
        if cells:
            logger.warning(
                "%s: %d label cell(s) contain %r (e.g. %r) and were read as one label each; "
                "if they hold several labels, set the label separator (label_sep=%r)",
                path,
                len(cells),
                mark,
                cells[0],
                mark,
            )


def _read_rows(path: Path, options: ReaderOptions, on_empty: OnEmpty) -> _RawRows:
    if on_empty not in ("error", "drop"):
        raise InputError(f"on_empty must be 'error' or 'drop', got {on_empty!r}")
    frame, lines, replaced = read_frame(path, options)
    needed = [(options.text_col, "text_col")] + (
        [(c, "labels") for c in options.intensity_columns]
        if options.intensity_columns
        else [(options.label_col, "label_col")]
    )
    for column, parameter in needed:
        if column not in frame.columns:
            raise missing_column_error(column, frame.columns, path, parameter)

    raw_texts = frame[options.text_col].tolist()
    empty = [i for i, value in enumerate(raw_texts) if _is_empty_text(value)]
    if empty and on_empty == "error":
        shown = ", ".join(str(lines[i]) for i in empty[:_MAX_LISTED_ROWS])
        more = f" and {len(empty) - _MAX_LISTED_ROWS} more" if len(empty) > _MAX_LISTED_ROWS else ""
        raise InputError(
            f"{path}: {len(empty)} empty or missing text(s) at line(s) {shown}{more}. "
            "Fix them, or drop them with on_empty='drop'",
            parameter="drop_empty",
        )
    if empty:
        logger.warning("%s: dropped %d empty or missing text(s)", path, len(empty))
    keep = sorted(set(range(len(raw_texts))) - set(empty))
    intensity = None
    if options.intensity_columns:
        intensity = _read_intensities(frame, options, keep, lines, path)
        tokens = [
            [c for c, v in zip(options.intensity_columns, row, strict=True) if v > 0]
            for row in intensity
        ]
    else:
        raw_labels = frame[options.label_col].tolist()
        tokens = [label_tokens(raw_labels[i], options.label_sep) for i in keep]
        _warn_unsplit_labels(tokens, path)
    report = ReadReport(
        path=str(path),
        rows_read=len(raw_texts),
        dropped_empty_lines=tuple(lines[i] for i in empty),
        replaced_bytes=replaced,
        rows_without_labels=sum(1 for t in tokens if not t),
    )
    return _RawRows(
        path=path,
        texts=[str(raw_texts[i]) for i in keep],
        tokens=tokens,
        lines=[lines[i] for i in keep],
        report=report,
        intensity=intensity,
        intensity_columns=tuple(options.intensity_columns or ()),
    )


def _read_intensities(
    frame: pd.DataFrame,
    options: ReaderOptions,
    keep: Sequence[int],
    lines: Sequence[int],
    path: Path,
) -> np.ndarray:
    """Graded labels as 0-1 intensities: each label's column divided by the scale."""
    columns = list(options.intensity_columns or ())
    scale = float(options.intensity_scale or 1.0)
    values = np.zeros((len(keep), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        parsed = pd.to_numeric(frame[column].iloc[list(keep)].replace("", "0"), errors="coerce")
        bad = np.flatnonzero(~np.isfinite(parsed.to_numpy(dtype=np.float64)))
        if len(bad) == 0:
            out = np.flatnonzero((parsed < 0) | (parsed > scale))
            if len(out) == 0:
                values[:, j] = parsed.to_numpy(dtype=np.float64) / scale
                continue
            bad = out
        row = bad[0]
        raise InputError(
            f"{path}, line {lines[keep[row]]}: {column!r} is "
            f"{frame[column].iloc[keep[row]]!r}; graded labels are numbers from 0 to {scale:g}",
            parameter="labels",
        )
    return values.astype(np.float32)


def _uses_ids(rows: Sequence[_RawRows], options: ReaderOptions) -> bool:
    if options.intensity_columns:
        return False  # graded labels are named by their columns
    if options.label_format != "auto":
        return options.label_format == "ids"
    tokens = [t for r in rows for row_tokens in r.tokens for t in row_tokens]
    return bool(tokens) and all(_INTEGER.match(t) for t in tokens)


def _build_dataset(rows: _RawRows, labels: tuple[str, ...], use_ids: bool, name: str) -> Dataset:
    index = {label: i for i, label in enumerate(labels)}
    gold = np.zeros((len(rows.texts), len(labels)), dtype=bool)
    for row, (row_tokens, line) in enumerate(zip(rows.tokens, rows.lines, strict=True)):
        for token in row_tokens:
            if use_ids:
                if not _INTEGER.match(token):
                    raise InputError(
                        f"{rows.path}, line {line}: label {token!r} is not an integer id, "
                        "but this file's labels are read as ids (label_format='ids')"
                    )
                label_id = int(token)
                if not 0 <= label_id < len(labels):
                    raise InputError(
                        f"{rows.path}, line {line}: label id {label_id} is out of range; "
                        f"there are {len(labels)} labels (ids 0-{len(labels) - 1})"
                    )
                gold[row, label_id] = True
            else:
                if token not in index:
                    raise InputError(
                        f"{rows.path}, line {line}: unknown label {token!r}; known labels: "
                        f"{', '.join(labels)}. Set labels= to the full label list",
                        parameter="labels",
                    )
                gold[row, index[token]] = True
    intensity = None
    if rows.intensity is not None:
        # Columns are read in the order of intensity_columns, which are the label names.
        intensity = np.zeros(gold.shape, dtype=np.float32)
        order = [index[c] for c in rows.intensity_columns]
        intensity[:, order] = rows.intensity
    return Dataset(rows.texts, labels, gold, name=name, reports=(rows.report,), intensity=intensity)


def _resolve_labels(
    rows: Sequence[_RawRows],
    labels: str | os.PathLike[str] | Sequence[str] | None,
    use_ids: bool,
) -> tuple[str, ...]:
    if labels is not None:
        return read_label_names(labels)
    if use_ids:
        ids = [
            (int(t), r.path, line)
            for r in rows
            for ts, line in zip(r.tokens, r.lines, strict=True)
            for t in ts
        ]
        highest = max((i for i, _, _ in ids), default=-1)
        distinct = len({i for i, _, _ in ids})
        if highest >= MAX_UNNAMED_IDS or highest >= 2 * distinct + UNUSED_ID_SLACK:
            _, path, line = max(ids)
            raise InputError(
                f"{path}, line {line}: label id {highest} would make {highest + 1} unnamed "
                f"labels for {distinct} distinct ids; give the label names, or fix the id",
                parameter="labels",
            )
        names = tuple(str(i) for i in range(highest + 1))
        logger.warning(
            "labels are integer ids and no label names were given; naming them %s..%s. "
            "Set labels= to name them",
            names[0] if names else "",
            names[-1] if names else "",
        )
        if not names:
            raise InputError(
                "no labels found in the data; set labels= to the label names", parameter="labels"
            )
        return names
    names = sorted_label_names(t for r in rows for t in r.tokens)
    if not names:
        raise InputError(
            f"no labels found in the label column of {rows[0].path}; check the label column "
            "and the label separator",
            parameter="label_col",
        )
    return names


def read_table(
    path: str | os.PathLike[str],
    options: ReaderOptions | None = None,
    labels: str | os.PathLike[str] | Sequence[str] | None = None,
    on_empty: OnEmpty = "error",
    name: str | None = None,
) -> Dataset:
    """Read one labelled CSV/TSV/TXT/JSONL/Parquet file into a :class:`Dataset`.

    Labels may be names or integer ids, one or several per row (split on
    ``options.label_sep``). Label names come from ``labels`` (a list or a file of
    one name per line) or, failing that, from the data (sorted).
    """
    options = options or ReaderOptions()
    if labels is None and options.intensity_columns:
        labels = options.intensity_columns
    rows = _read_rows(Path(path), options, on_empty)
    use_ids = _uses_ids([rows], options)
    names = _resolve_labels([rows], labels, use_ids)
    return _build_dataset(rows, names, use_ids, name or Path(path).stem)


def load_files(
    train: str | os.PathLike[str],
    dev: str | os.PathLike[str] | None = None,
    test: str | os.PathLike[str] | None = None,
    options: ReaderOptions | None = None,
    labels: str | os.PathLike[str] | Sequence[str] | None = None,
    on_empty: OnEmpty = "error",
    seed: int = 0,
    dev_size: float = 0.1,
    test_size: float = 0.1,
    name: str | None = None,
) -> DatasetSplits:
    """Read train (and optionally dev/test) files over one shared label set.

    Missing dev or test splits are carved out of train by a seeded, stratified
    split, and how they were made is kept in ``split_info``.
    """
    options = options or ReaderOptions()
    if labels is None and options.intensity_columns:
        labels = options.intensity_columns
    paths = {"train": train, "dev": dev, "test": test}
    rows = {split: _read_rows(Path(p), options, on_empty) for split, p in paths.items() if p}
    use_ids = _uses_ids(list(rows.values()), options)
    names = _resolve_labels(list(rows.values()), labels, use_ids)
    dataset_name = name or Path(train).stem
    parts = {
        split: _build_dataset(r, names, use_ids, f"{dataset_name}:{split}")
        for split, r in rows.items()
    }
    info: dict[str, Any] = {"method": "given", "files": {s: str(p) for s, p in paths.items() if p}}
    if "dev" not in parts or "test" not in parts:
        missing = [s for s in ("dev", "test") if s not in parts]
        sizes = {
            "dev": dev_size if "dev" in missing else 0.0,
            "test": test_size if "test" in missing else 0.0,
        }
        new_train, new_dev, new_test, method = stratified_split(
            parts["train"], dev_size=sizes["dev"], test_size=sizes["test"], seed=seed
        )
        parts["train"] = new_train
        parts.setdefault("dev", new_dev)
        parts.setdefault("test", new_test)
        info.update({"method": method, "seed": seed, "carved_from_train": missing, **sizes})
    info["sizes"] = {s: len(parts[s]) for s in SPLITS}
    return DatasetSplits(parts["train"], parts["dev"], parts["test"], info)


# ---------------------------------------------------------------------------
# Files to annotate, read in chunks
