"""Human annotations with several annotators per text, whatever tool they came from.

Three formats are read into one :class:`Annotations`: a Label Studio JSON export
(:mod:`eqn.data.label_studio`), an Argilla dataset export (:mod:`eqn.data.argilla`) and a
*ratings table*, one row per rating (``text_id``, ``rater``, the text and the labels the
rater chose; CSV, TSV, JSONL or Parquet). Each text's annotators vote: a label's *vote
fraction* is the share of the text's annotators that chose it, trained as a graded label
on the 0-1 scale; a fraction of at least :data:`GOLD_FRACTION` counts as gold where gold is
needed (the threshold h, F1).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from eqn.data.table import Dataset, DatasetSplits
from eqn.errors import InputError

logger = logging.getLogger(__name__)

GOLD_FRACTION = 0.5  # a label at least half the annotators chose counts as gold
# The columns that make a table a ratings table (one row per rating).
RATING_COLUMNS = ("text_id", "rater")

AnnotationFormat = Literal["label-studio export", "argilla export", "ratings table"]


@dataclass(frozen=True)
class Annotations:
    """Annotated texts and, per text, each chosen label's vote fraction; and how many
    tasks, annotations and annotators the source holds."""

    texts: tuple[str, ...]
    votes: tuple[dict[str, float], ...]
    tasks: int
    annotations: int
    annotators: int
    skipped_tasks: int
    format: AnnotationFormat = "label-studio export"

    def counts(self, source: str) -> dict[str, Any]:
        """Where the annotations came from and how many: what a run records."""
        return {
            "source": source,
            "format": self.format,
            "tasks": self.tasks,
            "annotated_tasks": len(self.texts),
            "skipped_tasks": self.skipped_tasks,
            "annotations": self.annotations,
            "annotators": self.annotators,
        }

    def chosen_labels(self) -> set[str]:
        return {label for vote in self.votes for label in vote}

    def check_labels(self, labels: Sequence[str], source: str, of_model: bool = True) -> None:
        """Every chosen label must be one of ``labels`` (the model's, or with ``of_model``
        False the label set the user gave): one that is not is an error naming it."""
        unknown = sorted(self.chosen_labels() - set(labels))
        if not unknown:
            return
        shown = ", ".join(labels[:8]) + (", ..." if len(labels) > 8 else "")
        if of_model:
            problem = f"which the model does not have (its labels: {shown})"
            fix = (
                "Use a labeling config with the model's labels (eqn label-studio-config "
                "prints one), or pass add_labels=True to teach the model the new ones"
            )
        else:
            problem = f"which the label set given does not have ({shown})"
            fix = "Give the full label set: the project's labeling config, or every label"
        raise InputError(
            f"{source}: annotators chose {', '.join(map(repr, unknown))}, {problem}. {fix}",
            parameter="add_labels" if of_model else "labels",
        )

    def fractions(self, labels: Sequence[str]) -> np.ndarray:
        index = {label: i for i, label in enumerate(labels)}
        matrix = np.zeros((len(self.texts), len(labels)), dtype=np.float32)
        for row, vote in enumerate(self.votes):
            for label, share in vote.items():
                matrix[row, index[label]] = share
        return matrix

    def graded(self, labels: Sequence[str], rows: np.ndarray, name: str = "") -> Dataset:
        """Rows as graded labels for training: each label's vote fraction on the 0-1 scale."""
        shares = self.fractions(labels)[rows]
        texts = [self.texts[i] for i in rows]
        return Dataset(texts, tuple(labels), shares > 0, name=name, intensity=shares)

    def gold(self, labels: Sequence[str], rows: np.ndarray, name: str = "") -> Dataset:
        """Rows with gold where at least half the annotators agree (for h and F1)."""
        shares = self.fractions(labels)[rows]
        texts = [self.texts[i] for i in rows]
        return Dataset(texts, tuple(labels), shares >= GOLD_FRACTION, name=name)


@dataclass
class Tally:
    """Collects one source's texts and votes; each reader feeds it task by task."""

    format: AnnotationFormat
    texts: list[str] = field(default_factory=list)
    votes: list[dict[str, float]] = field(default_factory=list)
    annotators: set[Hashable] = field(default_factory=set)
    tasks: int = 0
    annotations: int = 0
    skipped: int = 0

    def add(self, text: str | None, ratings: Sequence[tuple[Hashable, Iterable[str]]]) -> None:
        """One task: its text and each annotator's chosen labels (none chosen is a vote
        against every label). A task without text or annotation is skipped and counted."""
        self.tasks += 1
        if text is None or not ratings:
            self.skipped += 1
            return
        counts: dict[str, int] = {}
        for annotator, labels in ratings:
            # Label Studio writes completed_by as an id or as a user object.
            if isinstance(annotator, dict) and "id" in annotator:
                annotator = annotator["id"]
            self.annotators.add(json.dumps(annotator, sort_keys=True, default=str))
            for label in set(labels):
                counts[label] = counts.get(label, 0) + 1
        self.annotations += len(ratings)
        self.texts.append(text)
        self.votes.append({label: n / len(ratings) for label, n in counts.items()})

    def result(self, source: Path | str) -> Annotations:
        if not self.texts:
            raise InputError(
                f"{source} holds no annotated text ({self.skipped} without annotations)"
            )
        return Annotations(
            tuple(self.texts),
            tuple(self.votes),
            self.tasks,
            self.annotations,
            len(self.annotators),
            self.skipped,
            self.format,
        )


def text_field(data: Mapping[str, Any], name: str | None, where: str) -> str | None:
    """A task's text: the field ``name``, else ``text``, else its only string field."""
    if name is not None:
        value = data.get(name)
    elif "text" in data:
        value = data["text"]
    else:
        strings = [v for v in data.values() if isinstance(v, str)]
        if len(strings) != 1:
            raise InputError(
                f"{where} has data fields {', '.join(map(repr, data))}; "
                "name the one that holds the text",
                parameter="text_col",
            )
        value = strings[0]
    return value if isinstance(value, str) and value.strip() else None


# ---------------------------------------------------------------------------
# Which format a file is


FIRST_RECORD_LIMIT = 64 << 20  # a JSON export's first task longer than this is not looked into


def _first_json_record(path: Path) -> dict[str, Any] | None:
    """The first element of a JSON array file, read only as far as it ends (an export's
    first task may be long, and the whole file large); None if it is not an object."""
    decoder = json.JSONDecoder()
    raw = b""
    with path.open("rb") as stream:
        while len(raw) <= FIRST_RECORD_LIMIT:
            chunk = stream.read(1 << 16)
            raw += chunk
            text = raw.decode("utf-8", errors="ignore").lstrip("\ufeff \t\r\n")
            if text and not text.startswith("["):
                return None
            try:
                record, _ = decoder.raw_decode(text[1:].lstrip())
            except ValueError:
                if not chunk:
                    return None
                continue
            return record if isinstance(record, dict) else None
    return None


def _column_names(path: Path, fmt: str, sep: str | None, encoding: str) -> list[str]:
    """A table's column names, read from its header (or first record) only."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            return list(pq.read_schema(path).names)
        except (OSError, ValueError):
            return []
    with path.open("rb") as stream:
        # The whole first line that is not blank, however long (a JSONL record's text may be).
        head = next((line for line in stream if line.strip()), b"")
    try:
        first = head.decode(encoding, errors="replace").lstrip("\ufeff").strip("\r\n")
    except LookupError:  # an unknown encoding: the table's reader says so
        return []
    if fmt == "jsonl":
        try:
            record = json.loads(first)
        except ValueError:
            return []
        return list(record) if isinstance(record, dict) else []
    delimiter = sep or ("\t" if fmt == "tsv" else ",")
    return next(csv.reader(io.StringIO(first), delimiter=delimiter), [])


def annotation_format(
    path: Path, sep: str | None = None, encoding: str = "utf-8"
) -> AnnotationFormat | None:
    """The annotation format of a file, or None for a plain labelled table."""
    from eqn.data.formats import SUFFIX_FORMATS

    if not path.is_file():
        return None
    fmt = SUFFIX_FORMATS.get(path.suffix.lower())
    if path.suffix.lower() == ".json":
        keys = set(_first_json_record(path) or {})
        if {"annotations", "data"} <= keys:
            return "label-studio export"
        if {"responses", "fields"} <= keys:
            return "argilla export"
        return None
    if fmt in ("csv", "tsv", "txt", "jsonl", "parquet"):
        if fmt == "txt" and sep is None:
            return None
        names = _column_names(path, fmt, sep, encoding)
        if all(column in names for column in RATING_COLUMNS):
            return "ratings table"
    return None


def read_annotations(path: Path, options: Any = None) -> Annotations:
    """The annotations in ``path``, any of the three formats. ``options``: the
    :class:`~eqn.data.readers.ReaderOptions` a ratings table is read with; for the two
    exports, a ``text_col`` other than ``text`` names the task field holding the text and a
    ``label_col`` other than ``labels`` names Argilla's label question."""
    from eqn.data.readers import ReaderOptions

    options = options or ReaderOptions()
    fmt = annotation_format(path, options.sep, options.encoding)
    text_key = None if options.text_col == "text" else options.text_col
    if fmt == "label-studio export":
        from eqn.data.label_studio import read_export

        return read_export(path, text_key)
    if fmt == "argilla export":
        from eqn.data.argilla import read_argilla

        question = None if options.label_col == "labels" else options.label_col
        return read_argilla(path, text_key, question)
    if fmt == "ratings table":
        return read_ratings(path, options)
    raise InputError(
        f"{path} is not a Label Studio or Argilla JSON export, nor a ratings table with "
        f"columns {', '.join(RATING_COLUMNS)}, the text and the labels"
    )


def read_ratings(path: Path, options: Any) -> Annotations:
    """A ratings table: one row per rating, ``text_id``, ``rater``, the text (``text_col``)
    and the rater's labels (``label_col``, split by ``label_sep``; empty: none chosen). A
    rater's later row for the same text replaces the earlier one."""
    from eqn.data.formats import missing_column_error
    from eqn.data.readers import label_tokens, read_frame

    frame, lines, _ = read_frame(path, options)
    for column, parameter in [
        *((c, c) for c in RATING_COLUMNS),
        (options.text_col, "text_col"),
        (options.label_col, "label_col"),
    ]:
        if column not in frame.columns:
            raise missing_column_error(column, frame.columns, path, parameter)
    texts: dict[str, str] = {}
    ratings: dict[str, dict[str, list[str]]] = {}
    replaced = 0
    for line, text_id, rater, text, labels in zip(
        lines,
        frame["text_id"],
        frame["rater"],
        frame[options.text_col],
        frame[options.label_col],
        strict=True,
    ):
        text_id, rater = _key(text_id, "text_id", path, line), _key(rater, "rater", path, line)
        text = text if isinstance(text, str) and text.strip() else None
        if text is not None and texts.setdefault(text_id, text) != text:
            raise InputError(
                f"{path}, line {line}: text_id {text_id!r} has two different texts; "
                "give each text its own text_id"
            )
        by_rater = ratings.setdefault(text_id, {})
        replaced += rater in by_rater
        by_rater[rater] = label_tokens(labels, options.label_sep)
    if replaced:
        logger.warning("%s: %d later rating(s) replaced a rater's earlier one", path, replaced)
    tally = Tally("ratings table")
    for text_id, by_rater in ratings.items():
        tally.add(texts.get(text_id), list(by_rater.items()))
    return tally.result(path)


def _key(value: Any, column: str, path: Path, line: int) -> str:
    """A text_id or rater as text; a missing one names its line."""
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        value = ""
    key = str(value).strip()
    if not key:
        raise InputError(f"{path}, line {line}: the rating has no {column}; give every row one")
    return key


def annotation_splits(
    path: Path,
    labels: str | os.PathLike[str] | Sequence[str] | None,
    seed: int = 0,
    options: Any = None,
    dev_share: float = 0.1,
    test_share: float = 0.1,
) -> DatasetSplits:
    """Annotations as train (vote fractions, graded) and dev and test (gold at half the
    annotators), a seeded random split. ``labels``: the label set, never the choices seen:
    a list, a file with one name per line, or a Label Studio labeling config (XML)."""
    from eqn.data.label_studio import parse_labeling_config
    from eqn.data.readers import read_label_names

    if labels is None:
        raise InputError(
            f"{path} holds annotations: give its label set (labels: a list, a file with one "
            "name per line, or the project's Label Studio labeling config .xml)",
            parameter="labels",
        )
    if isinstance(labels, (str, os.PathLike)) and str(labels).lower().endswith(".xml"):
        names = parse_labeling_config(Path(labels).read_text(encoding="utf-8")).choices
    else:
        names = read_label_names(labels)
    annotations = read_annotations(path, options)
    annotations.check_labels(names, str(path), of_model=False)
    order = np.random.default_rng(seed).permutation(len(annotations.texts))
    n_test, n_dev = int(len(order) * test_share), int(len(order) * dev_share)
    if min(n_test, n_dev) < 1 or len(order) - n_test - n_dev < 1:
        raise InputError(
            f"{path}: {len(order)} annotated texts are too few to carve dev and test splits"
        )
    test, dev, train = np.split(order, [n_test, n_test + n_dev])
    info = {"method": "random", **annotations.counts(str(path)), "seed": seed}
    return DatasetSplits(
        annotations.graded(names, np.sort(train), "train"),
        annotations.gold(names, np.sort(dev), "dev"),
        annotations.gold(names, np.sort(test), "test"),
        info,
    )
