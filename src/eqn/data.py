"""Datasets: one in-memory form, readers for common file formats, and named datasets.

Every dataset becomes a :class:`Dataset`: texts, label names and a multi-hot gold
matrix. Readers accept CSV, TSV, JSONL and Parquet through :class:`ReaderOptions`;
the GoEmotions and 6emotions formats are just two configurations of that reader.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from eqn.io import atomic_directory

logger = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
TEXT_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".txt": "txt"}
JSONL_SUFFIXES = {".jsonl", ".ndjson"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
_INTEGER = re.compile(r"^[+-]?\d+$")
_MAX_LISTED_ROWS = 10

LabelFormat = Literal["auto", "names", "ids"]
OnEmpty = Literal["error", "drop"]


class DataError(ValueError):
    """Input data that cannot be used; the message names the problem and the fix."""


@dataclass(frozen=True)
class ReadReport:
    """What a reader noticed while reading one file."""

    path: str
    rows_read: int
    dropped_empty_lines: tuple[int, ...] = ()
    replaced_bytes: int = 0
    rows_without_labels: int = 0


@dataclass(frozen=True)
class Dataset:
    """Texts with a multi-hot gold matrix over a fixed, ordered label set."""

    texts: list[str]
    labels: tuple[str, ...]
    gold: np.ndarray
    name: str = ""
    reports: tuple[ReadReport, ...] = ()

    def __post_init__(self) -> None:
        gold = np.asarray(self.gold, dtype=bool)
        object.__setattr__(self, "gold", gold)
        object.__setattr__(self, "labels", tuple(self.labels))
        if gold.ndim != 2 or gold.shape != (len(self.texts), len(self.labels)):
            raise DataError(
                f"gold must have shape (n_texts, n_labels) = ({len(self.texts)}, "
                f"{len(self.labels)}), got {gold.shape}"
            )
        check_label_names(self.labels, source=self.name or "dataset")

    @classmethod
    def from_lists(
        cls,
        texts: Sequence[str],
        labels_per_text: Sequence[Iterable[str]],
        labels: Sequence[str] | None = None,
        name: str = "",
    ) -> Dataset:
        """Build a dataset from texts and, for each text, the names of its labels."""
        if len(texts) != len(labels_per_text):
            raise DataError(
                f"got {len(texts)} texts but {len(labels_per_text)} label lists; "
                "give one label list per text"
            )
        label_lists = [list(names) for names in labels_per_text]
        names = tuple(labels) if labels is not None else _sorted_names(label_lists)
        index = {label: i for i, label in enumerate(names)}
        gold = np.zeros((len(texts), len(names)), dtype=bool)
        for row, row_labels in enumerate(label_lists):
            for label in row_labels:
                if label not in index:
                    raise DataError(
                        f"unknown label {label!r} for text {row}; known labels: {', '.join(names)}"
                    )
                gold[row, index[label]] = True
        return cls(list(texts), names, gold, name=name)

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    @property
    def labels_per_sample(self) -> np.ndarray:
        """How many gold labels each sample has (the k_i of the paper's top-k_i)."""
        return self.gold.sum(axis=1)

    @property
    def is_multilabel(self) -> bool:
        return bool((self.labels_per_sample > 1).any())

    def label_frequencies(self) -> np.ndarray:
        """Fraction of samples carrying each label."""
        return self.gold.mean(axis=0) if len(self) else np.zeros(self.n_labels)

    def gold_names(self, row: int) -> list[str]:
        return [self.labels[j] for j in np.flatnonzero(self.gold[row])]

    def subset(self, indices: Sequence[int] | np.ndarray, name: str | None = None) -> Dataset:
        idx = np.asarray(indices, dtype=int)
        return Dataset(
            [self.texts[i] for i in idx],
            self.labels,
            self.gold[idx],
            name=self.name if name is None else name,
        )

    def describe(self) -> dict[str, Any]:
        """Row count, label count distribution and label frequencies, as plain data."""
        counts = self.labels_per_sample
        values, freq = np.unique(counts, return_counts=True)
        return {
            "name": self.name,
            "rows": len(self),
            "labels": list(self.labels),
            "labels_per_sample": {int(v): int(f) for v, f in zip(values, freq, strict=True)},
            "label_counts": {
                label: int(n) for label, n in zip(self.labels, self.gold.sum(axis=0), strict=True)
            },
        }


@dataclass(frozen=True)
class DatasetSplits:
    """Train, dev and test splits over one label set, with how they were made."""

    train: Dataset
    dev: Dataset
    test: Dataset
    split_info: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, split: str) -> Dataset:
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return getattr(self, split)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.train.labels

    def limit(
        self, max_train: int | None = None, max_eval: int | None = None, seed: int = 0
    ) -> DatasetSplits:
        """A seeded random subset of each split, for quick runs; recorded in ``split_info``."""
        rng = np.random.default_rng(seed)

        def cut(dataset: Dataset, size: int | None) -> Dataset:
            if size is None or size >= len(dataset):
                return dataset
            if size <= 0:
                raise DataError(f"subset sizes must be positive, got {size}")
            return dataset.subset(np.sort(rng.choice(len(dataset), size, replace=False)))

        if max_train is None and max_eval is None:
            return self
        info = {
            **self.split_info,
            "limited": {"max_train": max_train, "max_eval": max_eval, "seed": seed},
        }
        return DatasetSplits(
            cut(self.train, max_train), cut(self.dev, max_eval), cut(self.test, max_eval), info
        )


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

    def __post_init__(self) -> None:
        if self.label_format not in ("auto", "names", "ids"):
            raise DataError(
                f"label_format must be 'auto', 'names' or 'ids', got {self.label_format!r}"
            )
        if not self.header and not self.column_names:
            raise DataError("a file without a header needs column_names, e.g. ('text', 'labels')")
        if self.column_names is not None:
            object.__setattr__(self, "column_names", tuple(self.column_names))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------
# Label names


def check_label_names(labels: Sequence[str], source: str = "labels") -> None:
    """Refuse empty or duplicate label names, naming the offenders."""
    if len(labels) == 0:
        raise DataError(f"{source}: the label list is empty; give at least one label name")
    blank = [i for i, label in enumerate(labels) if not str(label).strip()]
    if blank:
        raise DataError(f"{source}: label names at positions {blank} are empty")
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if label in seen:
            raise DataError(
                f"{source}: duplicate label name {label!r} at positions {seen[label]} and {i}; "
                "label names must be unique"
            )
        seen[label] = i


def read_label_names(source: str | os.PathLike[str] | Sequence[str]) -> tuple[str, ...]:
    """Label names from a list, or from a text file with one name per line."""
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"label file {path} does not exist; give one name per line")
        names = tuple(line.strip() for line in _decode(path.read_bytes(), path)[0].splitlines())
        names = tuple(name for name in names if name)
        check_label_names(names, source=str(path))
        return names
    names = tuple(str(name) for name in source)
    check_label_names(names)
    return names


def _sorted_names(label_lists: Iterable[Iterable[str]]) -> tuple[str, ...]:
    return tuple(sorted({label for labels in label_lists for label in labels}))


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


def _decode(raw: bytes, path: Path) -> tuple[str, int]:
    """Decode UTF-8; undecodable bytes become U+FFFD and are counted, never fatal."""
    try:
        return raw.decode("utf-8-sig"), 0
    except UnicodeDecodeError:
        text = raw.decode("utf-8-sig", errors="replace")
        replaced = text.count("\ufffd") - raw.count("\ufffd".encode())
        logger.warning(
            "%s: %d undecodable byte sequence(s) were replaced with U+FFFD", path, replaced
        )
        return text, replaced


def _detect_format(path: Path, options: ReaderOptions) -> str:
    if options.fmt != "auto":
        return options.fmt
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix in TEXT_SUFFIXES:
        return TEXT_SUFFIXES[suffix]
    raise DataError(
        f"cannot tell the format of {path} from its suffix {suffix!r}; "
        "use .csv, .tsv, .txt, .jsonl or .parquet, or pass the format explicitly"
    )


def _read_frame(path: Path, options: ReaderOptions) -> tuple[pd.DataFrame, list[int], int]:
    """The file as a DataFrame of strings, the file line of each row, replaced bytes."""
    if not path.is_file():
        raise DataError(f"{path} does not exist or is not a file")
    fmt = _detect_format(path, options)
    if fmt == "parquet":
        frame = pd.read_parquet(path)
        if frame.empty:
            raise DataError(f"{path} is empty: it has no rows")
        return frame, list(range(1, len(frame) + 1)), 0

    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path} is empty: it has no rows")
    text, replaced = _decode(raw, path)

    if fmt == "jsonl":
        records, lines = [], []
        for line_no, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(
                    f"{path}, line {line_no}: not valid JSON ({error.msg}); "
                    "JSONL needs one JSON object per line"
                ) from None
            if not isinstance(record, dict):
                raise DataError(f"{path}, line {line_no}: expected a JSON object, got {record!r}")
            records.append(record)
            lines.append(line_no)
        return pd.DataFrame.from_records(records), lines, replaced

    sep = options.sep or {"csv": ",", "tsv": "\t"}.get(fmt)
    if sep is None:
        raise DataError(f"{path}: a .txt file needs a separator, e.g. sep=';' (--sep ';')")
    quoting = options.quoting or ("minimal" if fmt == "csv" else "none")
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=sep,
            header=0 if options.header else None,
            names=list(options.column_names) if not options.header else None,
            dtype=str,
            keep_default_na=False,
            quoting=csv.QUOTE_MINIMAL if quoting == "minimal" else csv.QUOTE_NONE,
            engine="c",
            skip_blank_lines=True,
        )
    except pd.errors.ParserError as error:
        raise DataError(
            f"{path}: malformed line: {error}. Check the separator ({sep!r}) and quoting "
            f"({quoting!r}), or fix that line"
        ) from None
    first_line = 2 if options.header else 1
    return frame, list(range(first_line, first_line + len(frame))), replaced


def _is_empty_text(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return not str(value).strip()


def _label_tokens(value: Any, sep: str | None) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, (int, np.integer)):
        return [str(int(value))]
    tokens = str(value).split(sep) if sep else [str(value)]
    return [token.strip() for token in tokens if token.strip()]


def missing_column_error(
    column: str, found: Iterable[Any], path: Path | str, flag: str
) -> DataError:
    """The error for a missing column: it names the columns that were found."""
    found_list = ", ".join(repr(str(c)) for c in found) or "(none)"
    return DataError(
        f"column {column!r} not found in {path}; found columns: {found_list}. "
        f"Pass {flag} with one of them"
    )


def _read_rows(path: Path, options: ReaderOptions, on_empty: OnEmpty) -> _RawRows:
    if on_empty not in ("error", "drop"):
        raise DataError(f"on_empty must be 'error' or 'drop', got {on_empty!r}")
    frame, lines, replaced = _read_frame(path, options)
    for column, flag in ((options.text_col, "--text-col"), (options.label_col, "--label-col")):
        if column not in frame.columns:
            raise missing_column_error(column, frame.columns, path, flag)

    raw_texts = frame[options.text_col].tolist()
    empty = [i for i, value in enumerate(raw_texts) if _is_empty_text(value)]
    if empty and on_empty == "error":
        shown = ", ".join(str(lines[i]) for i in empty[:_MAX_LISTED_ROWS])
        more = f" and {len(empty) - _MAX_LISTED_ROWS} more" if len(empty) > _MAX_LISTED_ROWS else ""
        raise DataError(
            f"{path}: {len(empty)} empty or missing text(s) at line(s) {shown}{more}. "
            "Fix them, or drop them with on_empty='drop' (CLI: --drop-empty)"
        )
    if empty:
        logger.warning("%s: dropped %d empty or missing text(s)", path, len(empty))
    keep = sorted(set(range(len(raw_texts))) - set(empty))
    raw_labels = frame[options.label_col].tolist()
    tokens = [_label_tokens(raw_labels[i], options.label_sep) for i in keep]
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
    )


def _uses_ids(rows: Sequence[_RawRows], options: ReaderOptions) -> bool:
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
                    raise DataError(
                        f"{rows.path}, line {line}: label {token!r} is not an integer id, "
                        "but this file's labels are read as ids (label_format='ids')"
                    )
                label_id = int(token)
                if not 0 <= label_id < len(labels):
                    raise DataError(
                        f"{rows.path}, line {line}: label id {label_id} is out of range; "
                        f"there are {len(labels)} labels (ids 0-{len(labels) - 1})"
                    )
                gold[row, label_id] = True
            else:
                if token not in index:
                    raise DataError(
                        f"{rows.path}, line {line}: unknown label {token!r}; known labels: "
                        f"{', '.join(labels)}. Pass --labels to set the label list"
                    )
                gold[row, index[token]] = True
    return Dataset(rows.texts, labels, gold, name=name, reports=(rows.report,))


def _resolve_labels(
    rows: Sequence[_RawRows],
    labels: str | os.PathLike[str] | Sequence[str] | None,
    use_ids: bool,
) -> tuple[str, ...]:
    if labels is not None:
        return read_label_names(labels)
    if use_ids:
        highest = max((int(t) for r in rows for ts in r.tokens for t in ts), default=-1)
        names = tuple(str(i) for i in range(highest + 1))
        logger.warning(
            "labels are integer ids and no label names were given; naming them %s..%s. "
            "Pass --labels to name them",
            names[0] if names else "",
            names[-1] if names else "",
        )
        if not names:
            raise DataError("no labels found in the data; pass --labels")
        return names
    names = _sorted_names(t for r in rows for t in r.tokens)
    if not names:
        raise DataError(
            f"no labels found in column of {rows[0].path}; check --label-col and --label-sep"
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


def stratified_split(
    dataset: Dataset, dev_size: float, test_size: float, seed: int = 0
) -> tuple[Dataset, Dataset, Dataset, str]:
    """Seeded split stratified on each sample's rarest gold label.

    Returns train, dev, test and the method used ("stratified", or "random" when
    some label is too rare to stratify on).
    """
    from sklearn.model_selection import train_test_split

    if not 0 <= dev_size < 1 or not 0 <= test_size < 1 or dev_size + test_size >= 1:
        raise DataError(
            f"dev_size and test_size must be in [0, 1) and sum below 1, got {dev_size}, {test_size}"
        )
    n = len(dataset)
    frequency = dataset.gold.sum(axis=0)
    # The rarest label of each sample is the one most at risk of vanishing from a split.
    masked = np.where(dataset.gold, frequency[None, :], np.inf)
    key = np.where(dataset.gold.any(axis=1), masked.argmin(axis=1), -1)
    values, counts = np.unique(key, return_counts=True)
    rare = set(values[counts < 3].tolist())
    key = np.array([-2 if k in rare else k for k in key])

    indices = np.arange(n)
    method = "stratified"

    def take(pool: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
        nonlocal method
        if size == 0 or len(pool) == 0:
            return pool, np.array([], dtype=int)
        try:
            return train_test_split(pool, test_size=size, random_state=seed, stratify=key[pool])
        except ValueError:
            method = "random"
            return train_test_split(pool, test_size=size, random_state=seed)

    rest, test_idx = take(indices, test_size)
    dev_fraction = dev_size / (1 - test_size) if dev_size else 0.0
    train_idx, dev_idx = take(rest, dev_fraction)
    base = dataset.name.split(":")[0]
    return (
        dataset.subset(np.sort(train_idx), f"{base}:train"),
        dataset.subset(np.sort(dev_idx), f"{base}:dev"),
        dataset.subset(np.sort(test_idx), f"{base}:test"),
        method,
    )


# ---------------------------------------------------------------------------
# Named datasets

GOEMOTIONS_LABELS = (
    "admiration",
    "amusement",
    "anger",
    "annoyance",
    "approval",
    "caring",
    "confusion",
    "curiosity",
    "desire",
    "disappointment",
    "disapproval",
    "disgust",
    "embarrassment",
    "excitement",
    "fear",
    "gratitude",
    "grief",
    "joy",
    "love",
    "nervousness",
    "optimism",
    "pride",
    "realization",
    "relief",
    "remorse",
    "sadness",
    "surprise",
    "neutral",
)


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: its files, how to read them and where to download them."""

    name: str
    files: Mapping[str, str]
    options: ReaderOptions
    labels: tuple[str, ...]
    labels_file: str | None = None
    sha256: Mapping[str, str] = field(default_factory=dict)
    url_base: str | None = None
    url_env: str | None = None
    credit: str = ""


DATASETS: dict[str, DatasetSpec] = {
    "goemotions": DatasetSpec(
        name="goemotions",
        files={"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"},
        options=ReaderOptions(
            text_col="text",
            label_col="labels",
            label_sep=",",
            label_format="ids",
            fmt="tsv",
            header=False,
            column_names=("text", "labels", "id"),
            quoting="none",
        ),
        labels=GOEMOTIONS_LABELS,
        labels_file="labels.txt",
        sha256={
            "train.tsv": "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5",
            "dev.tsv": "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62",
            "test.tsv": "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4",
        },
        url_base="https://raw.githubusercontent.com/google-research/google-research/master/goemotions/data/",
        url_env="EQN_GOEMOTIONS_URL",
        credit="GoEmotions (Demszky et al., ACL 2020), CC BY 4.0, Google",
    ),
    "6emotions": DatasetSpec(
        name="6emotions",
        files={"train": "train.txt", "dev": "val.txt", "test": "test.txt"},
        options=ReaderOptions(
            text_col="text",
            label_col="label",
            label_sep=None,
            label_format="names",
            fmt="txt",
            sep=";",
            header=False,
            column_names=("text", "label"),
            quoting="none",
        ),
        labels=("sadness", "joy", "love", "anger", "fear", "surprise"),
        credit="CARER 'emotion' dataset (Saravia et al., EMNLP 2018)",
    ),
}


def eqn_home() -> Path:
    """The cache root: ``$EQN_HOME``, default ``~/.cache/eqn``."""
    return Path(os.environ.get("EQN_HOME", Path.home() / ".cache" / "eqn")).expanduser()


def _holds(directory: Path, spec: DatasetSpec) -> bool:
    return all((directory / filename).is_file() for filename in spec.files.values())


def _candidates(directory: Path, spec: DatasetSpec) -> list[Path]:
    return [directory, directory / spec.name]


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; named datasets: {', '.join(DATASETS)}")
    return DATASETS[name]


def _not_found_message(spec: DatasetSpec, looked: Sequence[Path], reason: str = "") -> str:
    files = ", ".join(spec.files.values())
    message = f"dataset {spec.name!r} was not found"
    if reason:
        message += f" and could not be downloaded ({reason})"
    looked_text = "; ".join(str(p) for p in looked) or "nowhere"
    return (
        f"{message}. Looked in: {looked_text}. Point eqn at a local copy: pass "
        f"--data-dir /path/to/{spec.name} (a folder holding {files}), or set "
        f"EQN_DATA_DIR=/path/to/data (a folder holding {spec.name}/), or put the files in "
        f"{eqn_home() / 'datasets' / spec.name}"
    )


def resolve_dataset_dir(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    base_url: str | None = None,
) -> Path:
    """Find a named dataset: ``data_dir``, then ``$EQN_DATA_DIR``, then the cache, then download."""
    spec = get_spec(name)
    if data_dir is not None:
        for candidate in _candidates(Path(data_dir), spec):
            if _holds(candidate, spec):
                return candidate
        missing = [f for f in spec.files.values() if not (Path(data_dir) / f).is_file()]
        raise DataError(
            f"--data-dir {data_dir} does not hold dataset {name!r}: missing {', '.join(missing)}. "
            f"Give the folder that holds {', '.join(spec.files.values())}"
        )
    looked: list[Path] = []
    env_dir = os.environ.get("EQN_DATA_DIR")
    if env_dir:
        for candidate in _candidates(Path(env_dir), spec):
            looked.append(candidate)
            if _holds(candidate, spec):
                return candidate
    cached = eqn_home() / "datasets" / spec.name
    looked.append(cached)
    if _holds(cached, spec):
        return cached
    base = base_url or (os.environ.get(spec.url_env) if spec.url_env else None) or spec.url_base
    if not download or base is None:
        reason = "" if base is None else "downloads are off"
        raise DataError(_not_found_message(spec, looked, reason))
    return download_dataset(spec, base, cached, looked)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_dataset(
    spec: DatasetSpec, base_url: str, target: Path, looked: Sequence[Path] = ()
) -> Path:
    """Download every file of ``spec`` into ``target``, verified by sha256.

    Files land in a staging folder that is renamed into place only when every
    checksum matches, so a failed or corrupt download leaves no cache entry.
    """
    with atomic_directory(target) as staging:
        for filename in spec.files.values():
            url = base_url.rstrip("/") + "/" + filename
            destination = staging / filename
            logger.info("downloading %s", url)
            try:
                with (
                    urllib.request.urlopen(url, timeout=60) as response,
                    destination.open("wb") as handle,
                ):
                    shutil.copyfileobj(response, handle)
            except (urllib.error.URLError, OSError) as error:
                reason = getattr(error, "reason", error)
                raise DataError(_not_found_message(spec, looked, f"{url}: {reason}")) from None
            expected = spec.sha256.get(filename)
            actual = _sha256(destination)
            if expected and actual != expected:
                raise DataError(
                    f"sha256 mismatch for {url}: expected {expected}, got {actual}. The file is "
                    "corrupt or truncated and was discarded; try again, or pass --data-dir with "
                    "a verified local copy"
                )
    logger.info("dataset %s cached in %s", spec.name, target)
    return target


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    base_url: str | None = None,
    on_empty: OnEmpty = "error",
) -> DatasetSplits:
    """Load a named dataset (``goemotions`` or ``6emotions``) with its official splits."""
    spec = get_spec(name)
    directory = resolve_dataset_dir(name, data_dir, download=download, base_url=base_url)
    labels: str | os.PathLike[str] | Sequence[str] = spec.labels
    if spec.labels_file and (directory / spec.labels_file).is_file():
        labels = directory / spec.labels_file
    files = {split: directory / filename for split, filename in spec.files.items()}
    splits = load_files(
        files["train"],
        files["dev"],
        files["test"],
        options=spec.options,
        labels=labels,
        on_empty=on_empty,
        name=spec.name,
    )
    info = {**splits.split_info, "dataset": spec.name, "directory": str(directory)}
    return replace(splits, split_info=info)


def load_splits(
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    options: ReaderOptions | None = None,
    labels: str | os.PathLike[str] | Sequence[str] | None = None,
    on_empty: OnEmpty = "error",
    seed: int = 0,
) -> DatasetSplits:
    """Load a named dataset, or a file (split seeded and stratified) or folder of split files."""
    if dataset in DATASETS:
        return load_dataset(dataset, data_dir=data_dir, on_empty=on_empty)
    path = Path(dataset)
    if path.is_dir():
        found = {s: _find_split_file(path, s) for s in SPLITS}
        if found["train"] is None:
            raise DataError(
                f"{path} holds no train file; expected train.csv/.tsv/.jsonl/.parquet "
                "(and optionally dev and test files beside it)"
            )
        return load_files(
            found["train"],
            found["dev"],
            found["test"],
            options=options,
            labels=labels,
            on_empty=on_empty,
            seed=seed,
            name=path.name,
        )
    if path.is_file():
        return load_files(path, options=options, labels=labels, on_empty=on_empty, seed=seed)
    raise DataError(
        f"{dataset!r} is neither a named dataset ({', '.join(DATASETS)}) nor an existing "
        "file or folder"
    )


_SPLIT_ALIASES = {
    "train": ("train",),
    "dev": ("dev", "val", "valid", "validation"),
    "test": ("test",),
}


def _find_split_file(directory: Path, split: str) -> Path | None:
    suffixes = (*TEXT_SUFFIXES, *JSONL_SUFFIXES, *PARQUET_SUFFIXES)
    for stem in _SPLIT_ALIASES[split]:
        for suffix in suffixes:
            candidate = directory / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None
