"""Reading human annotations from a Label Studio JSON export.

An export is a JSON array of tasks: ``{"id", "data": {FIELD: text, ...},
"annotations": [{"completed_by", "was_cancelled", "result": [{"type": "choices",
"value": {"choices": [...]}}]}], "predictions": [...]}``. Each task's annotators vote:
a label's *vote fraction* is the share of the task's (not cancelled) annotations that
chose it. Cancelled annotations and the export's predictions are ignored; tasks with
no annotation left are skipped and counted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from eqn.data.table import Dataset, DatasetSplits
from eqn.errors import InputError

GOLD_FRACTION = 0.5  # a label at least half the annotators chose counts as gold


@dataclass(frozen=True)
class LabelStudioExport:
    """The annotated tasks of an export: texts and, per text, each chosen label's vote
    fraction; and how many tasks, annotations and annotators it holds."""

    texts: tuple[str, ...]
    votes: tuple[dict[str, float], ...]
    tasks: int
    annotations: int
    annotators: int
    skipped_tasks: int

    def counts(self, source: str) -> dict[str, Any]:
        """Where the annotations came from and how many: what a run records."""
        return {
            "source": source,
            "format": "label-studio export",
            "tasks": self.tasks,
            "annotated_tasks": len(self.texts),
            "skipped_tasks": self.skipped_tasks,
            "annotations": self.annotations,
            "annotators": self.annotators,
        }

    def chosen_labels(self) -> set[str]:
        return {label for vote in self.votes for label in vote}

    def check_labels(self, labels: Sequence[str], source: str) -> None:
        """Every chosen label must be one of ``labels`` (the model's): one that is not is
        an error naming it."""
        unknown = sorted(self.chosen_labels() - set(labels))
        if unknown:
            raise InputError(
                f"{source}: annotators chose {', '.join(map(repr, unknown))}, which the model "
                f"does not have (its labels: {', '.join(labels[:8])}...). Use a labeling "
                "config with the model's labels (eqn label-studio-config prints one)",
                parameter="labels",
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


def is_label_studio_export(path: Path) -> bool:
    """A .json file whose first task has ``data`` and ``annotations``."""
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    with path.open("rb") as stream:
        head = stream.read(1 << 16).lstrip()
    return head.startswith(b"[") and b'"annotations"' in head and b'"data"' in head


def _text_of(task: dict[str, Any], field: str | None, source: Path) -> str | None:
    data = task.get("data")
    if not isinstance(data, dict):
        return None
    if field is not None:
        value = data.get(field)
    elif "text" in data:
        value = data["text"]
    else:
        strings = [v for v in data.values() if isinstance(v, str)]
        if len(strings) != 1:
            raise InputError(
                f"{source}: task {task.get('id')} has data fields {', '.join(map(repr, data))}; "
                "name the one that holds the text",
                parameter="text_col",
            )
        value = strings[0]
    return value if isinstance(value, str) and value.strip() else None


def _choices(annotation: dict[str, Any]) -> set[str]:
    chosen: set[str] = set()
    for item in annotation.get("result") or []:
        if isinstance(item, dict) and item.get("type") == "choices":
            values = (item.get("value") or {}).get("choices") or []
            chosen.update(str(v) for v in values)
    return chosen


def read_export(path: Path, field: str | None = None) -> LabelStudioExport:
    """The annotated tasks of a Label Studio JSON export (see the module's docstring)."""
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"{path} is not a readable Label Studio JSON export: {error}") from None
    if not isinstance(tasks, list):
        raise InputError(f"{path}: a Label Studio JSON export is an array of tasks")
    texts: list[str] = []
    votes: list[dict[str, float]] = []
    annotators: set[Any] = set()
    annotations = skipped = 0
    for task in tasks:
        if not isinstance(task, dict):
            raise InputError(f"{path}: every task must be a JSON object")
        kept = [
            a
            for a in task.get("annotations") or []
            if isinstance(a, dict) and not a.get("was_cancelled")
        ]
        text = _text_of(task, field, path)
        if not kept or text is None:
            skipped += 1
            continue
        counts: dict[str, int] = {}
        for annotation in kept:
            annotators.add(annotation.get("completed_by"))
            for label in _choices(annotation):
                counts[label] = counts.get(label, 0) + 1
        annotations += len(kept)
        texts.append(text)
        votes.append({label: n / len(kept) for label, n in counts.items()})
    if not texts:
        raise InputError(f"{path} holds no annotated task ({skipped} tasks without annotations)")
    return LabelStudioExport(
        tuple(texts), tuple(votes), len(tasks), annotations, len(annotators), skipped
    )


@dataclass(frozen=True)
class LabelingConfig:
    """What eqn needs from a Label Studio labeling config: the Choices tag's name and
    its choices, the Text tag it points at, and the task field that tag shows."""

    from_name: str
    to_name: str
    field: str
    choices: tuple[str, ...]

    def check_choices(self, labels: Sequence[str], model: str) -> None:
        """Every choice must be a model label (model labels missing from it are fine)."""
        unknown = [c for c in self.choices if c not in set(labels)]
        if unknown:
            raise InputError(
                f"the labeling config's Choices {self.from_name!r} offer "
                f"{', '.join(map(repr, unknown))}, which model {model} does not know; remove "
                "them, or use the config `eqn label-studio-config` prints",
                parameter="label_config",
            )


def parse_labeling_config(xml: str) -> LabelingConfig:
    """The first Choices tag and the Text tag it names (``toName``), whatever their names."""
    import xml.etree.ElementTree as ElementTree

    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as error:
        raise InputError(
            f"the labeling config is not valid XML: {error}", parameter="label_config"
        ) from None
    choices = next(root.iter("Choices"), None)
    if choices is None or not choices.get("name"):
        raise InputError(
            "the labeling config has no <Choices name=...> tag: eqn pre-selects choices",
            parameter="label_config",
        )
    to_name = choices.get("toName", "")
    texts = {tag.get("name"): tag for tag in root.iter() if tag.tag in ("Text", "HyperText")}
    text = texts.get(to_name) or next(iter(texts.values()), None)
    if text is None:
        raise InputError(
            "the labeling config has no <Text> tag for the Choices", parameter="label_config"
        )
    value = text.get("value", "$text")
    values = tuple(c.get("value", "") for c in choices.iter("Choice") if c.get("value"))
    return LabelingConfig(choices.get("name", ""), text.get("name", ""), value.lstrip("$"), values)


def export_splits(
    path: Path,
    labels: str | os.PathLike[str] | Sequence[str] | None,
    seed: int = 0,
    field: str | None = None,
    dev_share: float = 0.1,
    test_share: float = 0.1,
) -> DatasetSplits:
    """A Label Studio export as train (vote fractions, graded) and dev and test (gold at
    half the annotators), a seeded random split. ``labels``: the label set, never the
    choices seen: a list, a file with one name per line, or the labeling config (XML)."""
    from eqn.data.readers import read_label_names

    if labels is None:
        raise InputError(
            f"{path} is a Label Studio export: give its label set (labels: a list, a file "
            "with one name per line, or the project's labeling config .xml)",
            parameter="labels",
        )
    if isinstance(labels, (str, os.PathLike)) and str(labels).lower().endswith(".xml"):
        names = parse_labeling_config(Path(labels).read_text(encoding="utf-8")).choices
    else:
        names = read_label_names(labels)
    export = read_export(path, field)
    export.check_labels(names, str(path))
    order = np.random.default_rng(seed).permutation(len(export.texts))
    n_test, n_dev = int(len(order) * test_share), int(len(order) * dev_share)
    if min(n_test, n_dev) < 1 or len(order) - n_test - n_dev < 1:
        raise InputError(
            f"{path}: {len(order)} annotated tasks are too few to carve dev and test splits"
        )
    test, dev, train = np.split(order, [n_test, n_test + n_dev])
    info = {"method": "random", **export.counts(str(path)), "seed": seed}
    return DatasetSplits(
        export.graded(names, np.sort(train), "train"),
        export.gold(names, np.sort(dev), "dev"),
        export.gold(names, np.sort(test), "test"),
        info,
    )
