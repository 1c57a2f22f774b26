"""Reading an Argilla export: submitted responses vote; drafts, discards, suggestions do not."""

import json

import pytest

from eqn.data.annotations import annotation_format
from eqn.data.argilla import read_argilla
from eqn.errors import InputError


def record(i, text, responses, **extra):
    return {"id": str(i), "fields": {"text": text, **extra}, "responses": responses}


def answer(user, value, status="submitted"):
    return {"value": value, "user_id": user, "status": status}


def write(tmp_path, records):
    path = tmp_path / "records.json"
    path.write_text(json.dumps(records))
    return path


def test_submitted_responses_vote_and_the_rest_are_ignored(tmp_path):
    path = write(
        tmp_path,
        [
            record(
                1, "I love it", {"emotion": [answer("u1", ["joy", "love"]), answer("u2", ["joy"])]}
            ),
            record(
                2,
                "so sad",
                {"emotion": [answer("u1", ["sadness"]), answer("u2", ["anger"], "discarded")]},
            ),
            record(3, "draft only", {"emotion": [answer("u1", ["joy"], "draft")]}),
            record(4, "no answers", {}),
        ],
    )
    assert annotation_format(path) == "argilla export"
    found = read_argilla(path)
    assert found.texts == ("I love it", "so sad")
    assert found.votes == ({"joy": 1.0, "love": 0.5}, {"sadness": 1.0})
    assert (found.tasks, found.annotations, found.annotators, found.skipped_tasks) == (4, 3, 2, 2)
    assert found.format == "argilla export"


def test_a_single_label_question_and_a_response_without_status(tmp_path):
    path = write(tmp_path, [record(1, "meh", {"label": [{"value": "joy", "user_id": "u1"}]})])
    assert read_argilla(path).votes == ({"joy": 1.0},)


def test_the_label_question_is_found_or_must_be_named(tmp_path):
    responses = {
        "emotion": [answer("u1", ["joy"])],
        "topic": [answer("u1", ["sports"])],
        "rating": [answer("u1", 4)],
    }
    path = write(tmp_path, [record(1, "go team", responses)])
    with pytest.raises(InputError, match="several questions hold labels .'emotion', 'topic'"):
        read_argilla(path)
    assert read_argilla(path, question="topic").votes == ({"sports": 1.0},)
    with pytest.raises(InputError, match="no record answers the question 'mood'"):
        read_argilla(path, question="mood")
    responses["labels"] = [answer("u1", ["joy", "love"])]  # a usual name settles it
    path = write(tmp_path, [record(1, "go team", responses)])
    assert read_argilla(path).votes == ({"joy": 1.0, "love": 1.0},)


def test_several_text_fields_need_one_named(tmp_path):
    path = write(tmp_path, [record(1, "x", {"l": [answer("u", ["joy"])]}, title="y")])
    assert read_argilla(path).texts == ("x",)  # "text" is the default field
    records = [
        {"id": "1", "fields": {"a": "x", "b": "y"}, "responses": {"l": [answer("u", ["joy"])]}}
    ]
    path = write(tmp_path, records)
    with pytest.raises(InputError, match="record 1 has data fields 'a', 'b'; name the one"):
        read_argilla(path)
    assert read_argilla(path, field="b").texts == ("y",)
    path.write_text("[not json")
    with pytest.raises(InputError, match="not a readable Argilla JSON export"):
        read_argilla(path)
