"""File formats and encodings: which format a path is, decoding, and the errors that
name a file's problem and its fix. Shared by the dataset readers and the streaming
readers of files to annotate."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from eqn.errors import InputError

SUFFIX_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "txt",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

FORMATS = ("csv", "tsv", "txt", "jsonl", "parquet")


class _Missing:
    """A key that a JSONL record does not have (unlike an explicit null): the writers
    leave it out of that record again, and write an empty cell or a null elsewhere."""

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"  # unpickles (in a Ray worker too) as this module's one instance


MISSING = _Missing()

# Formats files to annotate can be read from; a .txt file holds one text per line.
ANNOTATION_FORMATS = ("csv", "tsv", "txt", "jsonl", "parquet")

OUTPUT_FORMATS = ("csv", "tsv", "jsonl", "parquet", "label-studio")


def decode_text(raw: bytes, path: Path, encoding: str = "utf-8") -> tuple[str, int]:
    """Decode the file (UTF-8 by default, a byte order mark allowed); bytes that do not
    decode are refused with the encoding option, never silently replaced."""
    try:
        return raw.decode(python_encoding(encoding)), 0
    except UnicodeDecodeError as error:
        raise encoding_error(path, encoding, error) from None
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}", parameter="encoding") from None


_FIELD_COUNT = re.compile(r"Expected (\d+) fields? in line (\d+), saw (\d+)")


def parser_problem(path: Path, error: Exception, sep: str | None, header: bool = True) -> str:
    """A CSV parser's complaint in words a user can act on."""
    found = _FIELD_COUNT.search(str(error))
    if found is None:
        return f"{path}: malformed CSV ({error}); check the separator and quoting"
    expected, line, saw = found.groups()
    no_header = (
        "a file with no header row needs one naming its columns (eqn reads the first row as "
        "the header); "
        if header
        else ""
    )
    return (
        f"{path}: line {line} has {saw} fields, but the first row has {expected}. A text that "
        f"holds the separator ({sep or ','!r}) must be quoted; {no_header}or the separator "
        "is another one"
    )


def missing_column_error(
    column: str, found: Iterable[Any], path: Path | str, parameter: str = "text_col"
) -> InputError:
    """The error for a missing column: it names the columns that were found."""
    found_list = ", ".join(repr(str(c)) for c in found) or "(none)"
    return InputError(
        f"column {column!r} not found in {path}; found columns: {found_list}. "
        f"Set {parameter} to one of them",
        parameter=parameter,
    )


def detect_format(path: Path, fmt: str | None = None, allowed: tuple[str, ...] = FORMATS) -> str:
    """The file format: ``fmt`` when given (checked), else from the suffix."""
    if fmt:
        if fmt not in allowed:
            raise InputError(
                f"unknown format {fmt!r}; choose one of {', '.join(allowed)}", parameter="format"
            )
        return fmt
    found = SUFFIX_FORMATS.get(path.suffix.lower())
    if found is None or found not in allowed:
        suffixes = ", ".join(s for s, f in SUFFIX_FORMATS.items() if f in allowed)
        raise InputError(
            f"cannot tell the format of {path} from its suffix {path.suffix!r}; use one of "
            f"{suffixes}, or name the format",
            parameter="format",
        )
    return found


def python_encoding(encoding: str) -> str:
    # A UTF-8 byte order mark is not part of the first column's name.
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def encoding_error(path: Path, encoding: str, error: UnicodeDecodeError) -> InputError:
    byte = error.object[error.start : error.start + 1].hex()
    line = error.object[: error.start].count(b"\n") + 1
    return InputError(
        f"{path} is not valid {encoding}: byte 0x{byte} on line {line} (offset {error.start}) "
        "cannot be decoded. Give the file's encoding (for example encoding='latin-1' or "
        "'cp1252'), or convert it to UTF-8",
        parameter="encoding",
    )


def jsonl_record(line: str, line_no: int, path: Path) -> dict[str, Any]:
    """One JSONL line as an object, or an error naming the file and line."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}, line {line_no}: not valid JSON ({error.msg}); JSONL needs one JSON object "
            "per line"
        ) from None
    if not isinstance(record, dict):
        raise InputError(f"{path}, line {line_no}: expected a JSON object, got {line.strip()[:40]}")
    return record
