"""Label Studio's formats: a JSON export of annotated tasks, and labeling configs.

An export is a JSON array of tasks: ``{"id", "data": {FIELD: text, ...},
"annotations": [{"completed_by", "was_cancelled", "result": [{"type": "choices",
"value": {"choices": [...]}}]}], "predictions": [...]}``. Each task's annotators vote:
a label's *vote fraction* is the share of the task's (not cancelled) annotations that
chose it (:class:`~eqn.data.annotations.Annotations`). Cancelled annotations and the
export's predictions are ignored; tasks with no annotation left are skipped and counted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eqn.data.annotations import Annotations, Tally, text_field
from eqn.errors import InputError


def _choices(annotation: dict[str, Any], where: str) -> set[str]:
    """The labels an annotation chose; one shaped otherwise than Label Studio writes it
    is named."""
    result = annotation.get("result") or []
    chosen: set[str] = set()
    for item in result if isinstance(result, list) else [None]:
        if isinstance(item, dict) and item.get("type") != "choices":
            continue  # another tag's result (a rating, a text area)
        value = item.get("value") if isinstance(item, dict) else None
        values = value.get("choices") if isinstance(value, dict) else None
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InputError(
                f"{where}: an annotation's result is not Label Studio's "
                '[{"type": "choices", "value": {"choices": [...]}}]'
            )
        chosen.update(values)
    return chosen


def read_export(path: Path, field: str | None = None) -> Annotations:
    """The annotated tasks of a Label Studio JSON export (see the module's docstring)."""
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"{path} is not a readable Label Studio JSON export: {error}") from None
    return tasks_annotations(tasks, str(path), field)


def tasks_annotations(tasks: Any, source: str, field: str | None = None) -> Annotations:
    """The annotations of Label Studio tasks as an export holds them; ``source`` names
    where they came from in errors."""
    if not isinstance(tasks, list):
        raise InputError(f"{source}: a Label Studio JSON export is an array of tasks")
    tally = Tally("label-studio export")
    for task in tasks:
        if not isinstance(task, dict):
            raise InputError(f"{source}: every task must be a JSON object")
        where = f"{source}: task {task.get('id')!r}"
        annotations = task.get("annotations") or []
        if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
            raise InputError(f"{where}: 'annotations' must be a list of objects")
        kept = [a for a in annotations if not a.get("was_cancelled")]
        data = task.get("data")
        text = text_field(data, field, where) if isinstance(data, dict) else None
        tally.add(text, [(a.get("completed_by"), _choices(a, where)) for a in kept])
    return tally.result(source)


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
