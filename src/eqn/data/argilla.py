"""Argilla's format: a dataset's records as exported by ``dataset.records.to_json(PATH)``.

A JSON array of records: ``{"id", "fields": {FIELD: text, ...}, "responses": {QUESTION:
[{"value": [...] or "...", "user_id": ..., "status": ...}]}, "suggestions": {...}}``. The
label question's submitted responses are the annotators' votes
(:class:`~eqn.data.annotations.Annotations`); discarded and draft responses and the
suggestions (a model's) are ignored; records with no submitted response are skipped and
counted.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from pathlib import Path
from typing import Any

from eqn.data.annotations import Annotations, Tally, text_field
from eqn.errors import InputError

# Names a label question usually has; used only when the records hold several questions.
USUAL_QUESTION_NAMES = ("labels", "label")


def _is_label_value(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    )


def _responses(record: dict[str, Any], path: Path) -> dict[str, list[dict[str, Any]]]:
    """A record's answers by question; a record shaped otherwise is named."""
    responses = record.get("responses") or {}
    if not isinstance(responses, dict) or not all(
        isinstance(answers, list) and all(isinstance(a, dict) for a in answers)
        for answers in responses.values()
    ):
        raise InputError(
            f"{path}: record {record.get('id')!r}: 'responses' must map each question to a "
            "list of answers (objects), as dataset.records.to_json writes them"
        )
    return responses


def _label_question(records: list[dict[str, Any]], question: str | None, path: Path) -> str:
    """The question whose answers are labels: the one named, the only one, or the one with
    a usual name."""
    found: dict[str, bool] = {}
    for record in records:
        for name, answers in _responses(record, path).items():
            labels = all(_is_label_value(a.get("value")) for a in answers)
            found[name] = found.get(name, True) and labels
    if question is not None:
        if question not in found:
            raise InputError(
                f"{path}: no record answers the question {question!r}; its questions are "
                f"{', '.join(map(repr, found)) or 'none'}",
                parameter="label_col",
            )
        return question
    candidates = [name for name, labels in found.items() if labels]
    usual = [name for name in candidates if name in USUAL_QUESTION_NAMES]
    if len(candidates) == 1 or len(usual) == 1:
        return candidates[0] if len(candidates) == 1 else usual[0]
    raise InputError(
        f"{path}: {'no question holds' if not candidates else 'several questions hold'} "
        f"labels ({', '.join(map(repr, candidates or found)) or 'no responses'}); name the "
        "label question",
        parameter="label_col",
    )


def read_argilla(path: Path, field: str | None = None, question: str | None = None) -> Annotations:
    """The annotated records of an Argilla export (see the module's docstring)."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"{path} is not a readable Argilla JSON export: {error}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise InputError(f"{path}: an Argilla export is a JSON array of records (objects)")
    name = _label_question(records, question, path)
    tally = Tally("argilla export")
    for record in records:
        answers = _responses(record, path).get(name, [])
        submitted = [a for a in answers if a.get("status", "submitted") == "submitted"]
        fields = record.get("fields")
        where = f"{path}: record {record.get('id')}"
        text = text_field(fields, field, where) if isinstance(fields, dict) else None
        ratings: list[tuple[Hashable, list[str]]] = []
        for answer in submitted:
            value = answer.get("value")
            labels: list[str] = [value] if isinstance(value, str) else []
            if isinstance(value, list) and _is_label_value(value):
                labels = value
            ratings.append((answer.get("user_id"), labels))
        tally.add(text, ratings)
    return tally.result(path)
