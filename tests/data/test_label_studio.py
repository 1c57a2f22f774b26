"""Reading a Label Studio JSON export: vote fractions, cancelled annotations, skipped tasks."""

import json

import numpy as np
import pytest

from eqn.data.annotations import annotation_format
from eqn.data.label_studio import read_export
from eqn.errors import InputError


def choices(*labels):
    return [
        {"from_name": "emo", "to_name": "body", "type": "choices", "value": {"choices": labels}}
    ]


def annotation(who, *labels, cancelled=False):
    return {"completed_by": who, "was_cancelled": cancelled, "result": choices(*labels)}


EXPORT = [
    {
        "id": 1,
        "data": {"review": "I love it"},
        "annotations": [annotation(1, "joy", "love"), annotation(2, "joy")],
        "predictions": [{"result": choices("anger")}],
    },
    {
        "id": 2,
        "data": {"review": "so sad"},
        "annotations": [annotation(1, "sadness"), annotation(2, "anger", cancelled=True)],
    },
    {"id": 3, "data": {"review": "unlabelled"}, "annotations": []},
]


def test_votes_become_fractions_and_the_counts_are_kept(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(EXPORT))
    assert annotation_format(path) == "label-studio export"
    export = read_export(path)
    assert export.texts == ("I love it", "so sad")
    assert export.votes[0] == {"joy": 1.0, "love": 0.5} and export.votes[1] == {"sadness": 1.0}
    assert (export.tasks, export.annotations, export.annotators, export.skipped_tasks) == (
        3,
        3,
        2,
        1,
    )
    labels = ("anger", "joy", "love", "sadness")
    graded = export.graded(labels, np.arange(2))
    np.testing.assert_allclose(graded.intensity[0], [0, 1, 0.5, 0])
    assert export.gold(labels, np.arange(2)).gold[0].tolist() == [False, True, True, False]
    with pytest.raises(
        InputError, match="annotators chose 'love', which the model does not have"
    ) as e:
        export.check_labels(("joy", "sadness"), "export.json")
    assert "(its labels: joy, sadness)" in str(e.value) and e.value.parameter == "add_labels"


def test_a_task_with_several_text_fields_needs_one_named(tmp_path):
    path = tmp_path / "export.json"
    task = {"id": 9, "data": {"a": "x", "b": "y"}, "annotations": [annotation(1, "joy")]}
    path.write_text(json.dumps([task]))
    with pytest.raises(InputError, match="task 9 has data fields 'a', 'b'; name the one"):
        read_export(path)
    assert read_export(path, field="b").texts == ("y",)
    path.write_text("{not json")
    with pytest.raises(InputError, match="not a readable Label Studio JSON export"):
        read_export(path)


def test_an_export_trains_with_a_label_set_given_never_guessed(tmp_path):
    from eqn.data import load_splits

    tasks = [
        {
            "id": i,
            "data": {"review": f"text number {i}"},
            "annotations": [annotation(1, "joy"), annotation(2, "joy", "love")],
        }
        for i in range(30)
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    with pytest.raises(InputError, match="give its label set"):
        load_splits(str(path))
    config = tmp_path / "config.xml"
    config.write_text(
        '<View><Text name="body" value="$review"/><Choices name="emo" toName="body">'
        '<Choice value="joy"/><Choice value="love"/><Choice value="sadness"/></Choices></View>'
    )
    splits = load_splits(str(path), labels=str(config))
    assert splits.train.labels == ("joy", "love", "sadness")
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (24, 3, 3)
    np.testing.assert_allclose(splits.train.intensity[0], [1.0, 0.5, 0.0])
    assert splits.dev.gold[0].tolist() == [True, True, False]  # half the annotators is gold
    assert splits.split_info["annotators"] == 2 and splits.split_info["annotations"] == 60


def test_an_annotator_written_as_a_user_object_is_the_same_annotator(tmp_path):
    tasks = [
        {
            "id": 1,
            "data": {"text": "a"},
            "annotations": [annotation({"id": 7, "email": "x@y"}, "joy")],
        },
        {"id": 2, "data": {"text": "b"}, "annotations": [annotation(7, "sadness")]},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    assert read_export(path).annotators == 1


def test_a_result_not_shaped_as_label_studio_writes_it_is_named(tmp_path):
    bad = {"completed_by": 1, "result": [{"type": "choices", "value": ["joy"]}]}
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"id": 3, "data": {"text": "a"}, "annotations": [bad]}]))
    with pytest.raises(InputError, match="task 3: an annotation's result is not Label Studio's"):
        read_export(path)
