"""Writing annotated tables: one part per chunk, then the parts joined into the output.

Every write is atomic (:func:`eqn.io.atomic_write`): an output is complete or absent.
"""

from __future__ import annotations

import datetime
import json
import math
import shutil
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from eqn.data.formats import MISSING
from eqn.errors import InputError
from eqn.io import atomic_write


def write_frame(frame: pd.DataFrame, path: Path, fmt: str, header: bool = True) -> None:
    """Write ``frame`` atomically as csv, tsv, jsonl or parquet (``header``: csv/tsv only).

    ``label-studio`` parts are one task (JSON) a line; :func:`join_parts` makes the array.
    """
    with atomic_write(path, "wb") as stream:
        if fmt == "label-studio":
            stream.write("".join(line + "\n" for line in frame["task"]).encode())
        elif fmt == "parquet":
            _parquet_ready(frame).to_parquet(stream, index=False)
        elif fmt == "jsonl":
            stream.write("".join(_json_lines(frame)).encode())
        else:
            separator = "\t" if fmt == "tsv" else ","
            text = _csv_ready(frame).to_csv(index=False, header=header, sep=separator)
            stream.write(text.encode())


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Nested values (JSON objects and lists, from JSONL or Parquet) as JSON text, not as
    Python's repr of them; decimals as written; binary data refused."""
    out = frame
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object and not isinstance(values.dtype, pd.ArrowDtype):
            continue
        if values.dtype == object and any(v is MISSING for v in values):
            if out is frame:
                out = frame.copy()
            values = out[column] = pd.Series(
                [None if v is MISSING else v for v in values], dtype=object, index=values.index
            )
        if _is_binary(values):
            raise InputError(
                f"column {column!r} holds binary data, which CSV cannot keep; write Parquet "
                "(format parquet), or drop that column",
                parameter="fmt",
            )
        if not any(isinstance(v, (dict, list, np.ndarray, Decimal)) for v in values):
            continue
        if out is frame:
            out = frame.copy()
        out[column] = pd.Series(
            [
                json.dumps(json_value(column, v), ensure_ascii=False, default=_jsonable)
                if isinstance(v, (dict, list, np.ndarray))
                else str(v)
                if isinstance(v, Decimal)
                else v
                for v in values
            ],
            dtype=object,
            index=values.index,
        )
    return out


def _is_binary(values: pd.Series) -> bool:
    if isinstance(values.dtype, pd.ArrowDtype):
        import pyarrow as pa

        kind = values.dtype.pyarrow_dtype
        return bool(pa.types.is_binary(kind) or pa.types.is_large_binary(kind))
    return any(isinstance(v, (bytes, bytearray)) for v in values)


def _jsonable(value: Any) -> Any:
    """Values JSON has no type for, as the plain Python it can hold: NumPy values
    (Parquet lists may arrive as arrays), dates and times as ISO 8601 text, decimals
    as numbers where a JSON number keeps them."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        number = float(value)
        if Decimal(repr(number)) == value:
            return number
        raise TypeError(f"the decimal {value} has more digits than a JSON number keeps")
    raise TypeError(f"{type(value).__name__} values have no JSON form")


def json_value(column: str, value: Any) -> Any:
    """``value`` as strict JSON holds it (a null for a missing value), or an error naming
    the column and a format that keeps it."""
    if value is None or value is pd.NA or value is pd.NaT or value is MISSING:
        return None
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        name = "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
        raise InputError(
            f"column {column!r} holds {name}, which JSON cannot hold; write CSV or Parquet "
            "instead, or fix that value",
            parameter="fmt",
        )
    try:
        if not _needs_help(value):
            return value
        return json.loads(json.dumps(value, default=_jsonable, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise InputError(
            f"column {column!r} cannot be written as JSON exactly ({error}); write Parquet "
            "(format parquet), which keeps it",
            parameter="fmt",
        ) from None


def _needs_help(value: Any) -> bool:
    return not isinstance(value, (str, int, float, bool, type(None)))


def _json_lines(frame: pd.DataFrame) -> list[str]:
    """One JSON object a line, by the json module: keys and values exactly as held
    (pandas' writer cuts names at a NUL byte). A key its record lacked stays out; a
    null stays null; NaN and Infinity, which JSON cannot hold, are refused."""

    columns = [str(c) for c in frame.columns]

    return [
        json.dumps(
            {c: json_value(c, v) for c, v in zip(columns, row, strict=True) if v is not MISSING},
            ensure_ascii=False,
            default=_jsonable,
        )
        + "\n"
        for row in frame.itertuples(index=False, name=None)
    ]


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns for Parquet: lists and structs (from Parquet) keep their Arrow
    type; values of mixed kinds (JSON from JSONL) become text, so a column has one type."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype != object:
            continue
        values = [
            v.tolist() if isinstance(v, np.ndarray) else None if v is MISSING else v
            for v in out[column]
        ]
        kinds = {type(v) for v in values if v is not None}
        if kinds <= {str} or kinds == {list} or kinds == {dict}:
            out[column] = values
        else:
            out[column] = [
                None if v is None else v if isinstance(v, str) else json.dumps(v, default=_jsonable)
                for v in values
            ]
    return out


def join_parts(
    parts: Sequence[Path],
    part_columns: Sequence[Sequence[str]],
    columns: Sequence[str],
    target: Path,
    fmt: str,
    provenance: dict[str, Any] | None = None,
) -> None:
    """Concatenate finished parts into ``target`` atomically, part by part.

    ``columns`` is the union of every part's columns, in first-seen order: a part
    that lacks one gets it empty, so no value ever lands under another column.
    Parquet output carries ``provenance`` (model, hash, eqn version, calibration,
    threshold) in its schema metadata under the key ``eqn``.
    """
    if fmt == "parquet":
        _join_parquet(parts, columns, target, provenance)
        return
    if fmt == "label-studio":
        with atomic_write(target, "wb") as stream:
            stream.write(b"[")
            first = True
            for part in parts:
                with part.open("rb") as source:
                    for line in source:
                        stream.write((b"\n" if first else b",\n") + line.rstrip(b"\n"))
                        first = False
            stream.write(b"\n]\n")
        return
    separator = "\t" if fmt == "tsv" else ","
    with atomic_write(target, "wb") as stream:
        if fmt in ("csv", "tsv"):
            header = pd.DataFrame(columns=list(columns)).to_csv(index=False, sep=separator)
            stream.write(header.encode())
        for part, own in zip(parts, part_columns, strict=True):
            if fmt == "jsonl" or list(own) == list(columns):
                with part.open("rb") as source:
                    shutil.copyfileobj(source, stream)
                continue
            frame = pd.read_csv(
                part,
                sep=separator,
                header=None,
                names=list(own),
                dtype=str,
                keep_default_na=False,
                na_values=[],
            ).reindex(columns=list(columns), fill_value="")
            stream.write(frame.to_csv(index=False, header=False, sep=separator).encode())


def _join_parquet(
    parts: Sequence[Path], columns: Sequence[str], target: Path, provenance: dict[str, Any] | None
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schemas = [pq.read_schema(part) for part in parts]
    fields: dict[str, pa.DataType] = {}
    for schema in schemas:
        for field in schema:
            known = fields.get(field.name)
            # The same column with two types across parts becomes text.
            fields[field.name] = field.type if known in (None, field.type) else pa.string()
    schema = pa.schema([(c, fields.get(c, pa.string())) for c in columns]).with_metadata(
        {b"eqn": json.dumps(provenance or {}).encode()}
    )
    with atomic_write(target, "wb") as stream:
        writer = pq.ParquetWriter(stream, schema)
        for part in parts:
            table = pq.read_table(part)
            arrays = []
            for field in schema:
                if field.name in table.column_names:
                    column = table.column(field.name)
                    if column.type != field.type and pa.types.is_string(field.type):
                        column = pa.array(
                            [None if v is None else str(v) for v in column.to_pylist()],
                            pa.string(),
                        )
                    arrays.append(column.cast(field.type))
                else:
                    arrays.append(pa.nulls(table.num_rows, field.type))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
        writer.close()
