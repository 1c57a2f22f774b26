"""Streaming the files to annotate: chunks of strings, every column as written, so
memory stays flat on any input size."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from eqn.data.formats import (
    MISSING,
    encoding_error,
    jsonl_record,
    parser_problem,
    python_encoding,
)
from eqn.errors import InputError


def _jsonl_chunks(path: Path, chunk_rows: int, encoding: str) -> Iterator[pd.DataFrame]:
    """JSONL as chunks of objects, values exactly as parsed (big integers stay exact)."""
    records: list[dict[str, Any]] = []
    with path.open(encoding=python_encoding(encoding), errors="strict", newline="") as handle:
        try:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                records.append(jsonl_record(line, line_no, path))
                if len(records) == chunk_rows:
                    yield _object_frame(records)
                    records = []
        except UnicodeDecodeError as error:
            raise encoding_error(path, encoding, error) from None
    if records:
        yield _object_frame(records)


def _line_chunks(path: Path, chunk_rows: int, encoding: str) -> Iterator[pd.DataFrame]:
    """A plain text file as chunks of one ``text`` column, one text per line."""
    lines: list[str] = []
    with path.open(encoding=python_encoding(encoding), errors="strict", newline="") as handle:
        try:
            for line in handle:
                lines.append(line.rstrip("\r\n"))
                if len(lines) == chunk_rows:
                    yield pd.DataFrame({"text": lines}, dtype=object)
                    lines = []
        except UnicodeDecodeError as error:
            raise encoding_error(path, encoding, error) from None
    if lines:
        yield pd.DataFrame({"text": lines}, dtype=object)


RECORDS = "eqn_records"


def arrow_frame(table: Any) -> pd.DataFrame:
    """An Arrow table or batch as a frame that keeps every Arrow type (``pd.ArrowDtype``):
    an integer column with a null stays integer, a decimal stays decimal."""
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def _object_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Records as columns of Python objects: no type inference, so nothing is rounded."""
    columns = list(dict.fromkeys(key for record in records for key in record))
    frame = pd.DataFrame(
        {c: pd.Series([r.get(c, MISSING) for r in records], dtype=object) for c in columns}
    )
    frame.attrs[RECORDS] = True  # a key no record here has is missing, not unknown
    return frame


def count_rows(path: Path, fmt: str) -> int | None:
    """Rows in a file to annotate, for progress totals: exact for Parquet, a count of
    lines otherwise (a quoted field across lines makes it an overestimate)."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        lines = 0
        with path.open("rb") as handle:
            while block := handle.read(1 << 22):
                lines += block.count(b"\n")
        return max(0, lines - (1 if fmt in ("csv", "tsv") else 0))
    except Exception:  # a total is a nicety: the real read reports real errors
        return None


def _check_header(path: Path, header: list[str]) -> None:
    """Header names come back exactly as written, so each must be there once: pandas
    would silently rename a duplicate ('id.1') or an empty name ('Unnamed: 0')."""
    for number, name in enumerate(header, start=1):
        if not name.strip():
            raise InputError(
                f"{path}: column {number} of the header has no name; name it (an index column "
                "written by pandas is one), so that the output can keep it"
            )
    seen: dict[str, int] = {}
    for number, name in enumerate(header, start=1):
        if name in seen:
            raise InputError(
                f"{path}: the header names column {name!r} twice (columns {seen[name]} and "
                f"{number}); rename one, so that the output can keep both"
            )
        seen[name] = number


def _check_first_row(path: Path, sep: str, encoding: str) -> None:
    """Refuse a first data row with more fields than the header: pandas would silently
    make the extra leading fields an index and shift the text (later rows are refused
    by the parser itself)."""
    try:
        with path.open(encoding=python_encoding(encoding), newline="") as stream:
            rows = csv.reader(stream, delimiter=sep)
            header = next(rows, None)
            first = next(rows, None)
    except (UnicodeDecodeError, csv.Error):
        return  # the parser reports these with their own line
    if header is not None:
        _check_header(path, header)
    if header is not None and first is not None and len(first) > len(header):
        raise InputError(
            f"{path}: line 2 has {len(first)} fields, but the header has {len(header)}. A "
            f"text that holds the separator ({sep!r}) must be quoted; or the separator is "
            "another one",
            parameter="sep",
        )


def _csv_chunks(path: Path, sep: str, chunk_rows: int, encoding: str) -> Iterator[pd.DataFrame]:
    """CSV or TSV chunks of strings; the header is read lazily, inside the caller's checks."""
    _check_first_row(path, sep, encoding)
    yield from pd.read_csv(
        path,
        sep=sep,
        chunksize=chunk_rows,
        dtype=str,
        keep_default_na=False,
        na_values=[],
        encoding=python_encoding(encoding),
        encoding_errors="strict",
    )


def iter_chunks(
    path: Path,
    fmt: str,
    chunk_rows: int,
    skip_rows: int = 0,
    encoding: str = "utf-8",
    sep: str | None = None,
) -> Iterator[pd.DataFrame]:
    """The input as DataFrame chunks, starting after ``skip_rows`` rows.

    CSV and TSV cells are strings exactly as written; JSONL values are the parsed
    JSON objects; Parquet keeps its types. Text must decode in ``encoding`` (UTF-8,
    with or without a byte order mark, by default): bytes that do not are refused,
    never replaced.
    """
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty: it has no rows")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            batches = pq.ParquetFile(path).iter_batches(batch_size=chunk_rows)
        except Exception as error:  # pyarrow raises several types for damaged files
            raise InputError(f"{path} is not a readable Parquet file: {error}") from None
        reader: Iterator[pd.DataFrame] = (arrow_frame(batch) for batch in batches)
    elif fmt == "jsonl":
        reader = _jsonl_chunks(path, chunk_rows, encoding)
    elif fmt == "txt":
        reader = _line_chunks(path, chunk_rows, encoding)
    else:
        separator = sep or ("\t" if fmt == "tsv" else ",")
        reader = _csv_chunks(path, separator, chunk_rows, encoding)
    # Rows are skipped after parsing: a quoted field may span lines, so line
    # offsets would be wrong. Parsing is cheap next to the model.
    seen = 0
    try:
        for frame in reader:
            if seen + len(frame) <= skip_rows:
                seen += len(frame)
                continue
            yield frame.iloc[max(0, skip_rows - seen) :]
            seen += len(frame)
    except InputError:
        raise
    except UnicodeDecodeError as error:
        raise encoding_error(path, encoding, error) from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path} has no header and no rows") from None
    except pd.errors.ParserError as error:
        raise InputError(parser_problem(path, error, sep), parameter="sep") from None
    except ValueError as error:
        raise InputError(f"{path}: malformed input near row {seen + 1}: {error}") from None
