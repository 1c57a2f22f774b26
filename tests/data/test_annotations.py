"""Annotations from three tools read alike: vote fractions, counts, formats, splits."""

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eqn.data import ReaderOptions, load_splits
from eqn.data.annotations import annotation_format, read_annotations
from eqn.errors import InputError

LABELS = ("anger", "joy", "love", "sadness")


def ratings_csv(tmp_path, rows, name="ratings.csv"):
    path = tmp_path / name
    pd.DataFrame(rows, columns=["text_id", "rater", "text", "labels"]).to_csv(path, index=False)
    return path


def test_a_ratings_table_becomes_vote_fractions(tmp_path):
    path = ratings_csv(
        tmp_path,
        [
            ("t1", "ana", "I love it", "joy,love"),
            ("t1", "ben", "I love it", "joy"),
            ("t2", "ana", "so sad", "sadness"),
            ("t2", "ben", "so sad", ""),  # ben chose nothing: a vote against every label
            ("t3", "ana", "", "joy"),  # no text anywhere for t3: skipped and counted
        ],
    )
    assert annotation_format(path) == "ratings table"
    found = read_annotations(path)
    assert found.texts == ("I love it", "so sad")
    assert found.votes == ({"joy": 1.0, "love": 0.5}, {"sadness": 0.5})
    assert found.counts("r.csv") == {
        "source": "r.csv",
        "format": "ratings table",
        "tasks": 3,
        "annotated_tasks": 2,
        "skipped_tasks": 1,
        "annotations": 4,
        "annotators": 2,
    }


def test_a_raters_later_row_replaces_the_earlier_and_texts_must_agree(tmp_path, caplog):
    path = ratings_csv(
        tmp_path,
        [("t1", "ana", "fine", "joy"), ("t1", "ana", "fine", "anger"), ("t1", "ben", "", "joy")],
    )
    assert read_annotations(path).votes == ({"anger": 0.5, "joy": 0.5},)
    assert "1 later rating(s) replaced" in caplog.text
    ratings_csv(tmp_path, [("t1", "ana", "fine", "joy"), ("t1", "ben", "not fine", "joy")])
    with pytest.raises(InputError, match="line 3: text_id 't1' has two different texts"):
        read_annotations(path)


def test_a_ratings_table_in_parquet_with_its_own_column_names(tmp_path):
    path = tmp_path / "ratings.parquet"
    frame = pd.DataFrame(
        {"text_id": [1, 1], "rater": ["a", "b"], "body": ["hi", "hi"], "emo": ["joy", "joy|love"]}
    )
    frame.to_parquet(path)
    assert annotation_format(path) == "ratings table"
    options = ReaderOptions(text_col="body", label_col="emo", label_sep="|")
    assert read_annotations(path, options).votes == ({"joy": 1.0, "love": 0.5},)
    with pytest.raises(InputError, match="column 'text' not found .* Set text_col"):
        read_annotations(path)


def test_a_jsonl_ratings_table_is_known_however_long_its_first_record(tmp_path):
    # Its columns are read from the whole first record, not a fixed-size head of the file.
    path = tmp_path / "ratings.jsonl"
    long_text = "so long a day " * 10_000
    rows = [
        {"text": long_text, "labels": "joy", "text_id": "t1", "rater": "ana"},
        {"text": long_text, "labels": "", "text_id": "t1", "rater": "ben"},
    ]
    path.write_text("\n" + "\n".join(json.dumps(row) for row in rows) + "\n")
    assert annotation_format(path) == "ratings table"
    assert read_annotations(path).votes == ({"joy": 0.5},)


def test_an_export_is_known_by_its_first_tasks_keys_however_long_that_task(tmp_path):
    path = tmp_path / "export.json"
    task = {
        "data": {"text": "a very long day " * 10_000},  # before its annotations, over 64 KiB
        "annotations": [{"result": [{"type": "choices", "value": {"choices": ["joy"]}}]}],
    }
    path.write_text(json.dumps([task, task]))
    assert annotation_format(path) == "label-studio export"
    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"text": "annotations data responses fields"}]))
    assert annotation_format(other) is None


@pytest.mark.parametrize("column", ["text_id", "rater"])
def test_a_rating_without_its_text_id_or_rater_names_the_line(tmp_path, column):
    rows = pd.DataFrame(
        {
            "text_id": ["t1", "t1"],
            "rater": ["ana", "ben"],
            "text": ["x", "x"],
            "labels": ["joy"] * 2,
        }
    )
    rows.loc[1, column] = None
    rows.to_parquet(tmp_path / "ratings.parquet")
    with pytest.raises(InputError, match=f"line 2: the rating has no {column}"):
        read_annotations(tmp_path / "ratings.parquet")
    rows.to_csv(tmp_path / "ratings.csv", index=False)
    with pytest.raises(InputError, match=f"line 3: the rating has no {column}"):
        read_annotations(tmp_path / "ratings.csv")


def test_plain_tables_and_other_json_are_not_annotations(tmp_path):
    plain = tmp_path / "train.csv"
    plain.write_text("text,labels\nhello,joy\n")
    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"a": 1}]))
    assert annotation_format(plain) is None and annotation_format(other) is None
    with pytest.raises(InputError, match="not a Label Studio or Argilla JSON export, nor a"):
        read_annotations(other)


def test_a_ratings_table_trains_with_the_label_set_given(tmp_path):
    rows = [(f"t{i}", rater, f"text number {i}", "joy") for i in range(20) for rater in "ab"]
    path = ratings_csv(tmp_path, rows)
    with pytest.raises(InputError, match="give its label set"):
        load_splits(str(path))
    splits = load_splits(str(path), labels=list(LABELS))
    assert (len(splits.train), len(splits.dev), len(splits.test)) == (16, 2, 2)
    assert splits.split_info["format"] == "ratings table"
    assert splits.split_info["annotators"] == 2
    with pytest.raises(InputError, match="chose 'joy', which the label set given does not ha") as e:
        load_splits(str(path), labels=["anger", "love"])
    assert e.value.parameter == "labels" and "Give the full label set" in str(e.value)


# One annotation session, written in each tool's format: the three readers must agree.
sessions = st.lists(
    st.tuples(
        st.integers(0, 5),  # text
        st.sampled_from(["ana", "ben", "cy"]),  # rater
        st.sets(st.sampled_from(LABELS)),  # chosen labels
    ),
    min_size=1,
    max_size=25,
    unique_by=lambda rating: (rating[0], rating[1]),
)


def write_all_formats(folder, ratings):
    by_text: dict[int, list] = {}
    for text, rater, labels in ratings:
        by_text.setdefault(text, []).append((rater, sorted(labels)))
    label_studio = [
        {
            "id": text,
            "data": {"text": f"text {text}"},
            "annotations": [
                {"completed_by": r, "result": [{"type": "choices", "value": {"choices": c}}]}
                for r, c in raters
            ],
        }
        for text, raters in by_text.items()
    ]
    argilla = [
        {
            "id": str(text),
            "fields": {"text": f"text {text}"},
            "responses": {
                "emotion": [{"value": c, "user_id": r, "status": "submitted"} for r, c in raters]
            },
            "suggestions": {"emotion": {"value": ["anger"], "score": 0.9, "agent": "model"}},
        }
        for text, raters in by_text.items()
    ]
    (folder / "ls.json").write_text(json.dumps(label_studio))
    (folder / "argilla.json").write_text(json.dumps(argilla))
    rows = [(t, r, f"text {t}", ",".join(sorted(c))) for t, r, c in ratings]
    return [folder / "ls.json", folder / "argilla.json", ratings_csv(folder, rows)]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ratings=sessions)
def test_the_three_formats_give_the_same_votes(tmp_path, ratings):
    found = [read_annotations(path) for path in write_all_formats(tmp_path, ratings)]
    by_text = [dict(zip(f.texts, f.votes, strict=True)) for f in found]
    assert by_text[0] == by_text[1] == by_text[2]
    counts = {(f.annotations, f.annotators, len(f.texts)) for f in found}
    assert len(counts) == 1
    first = found[0]
    matrix = first.fractions(LABELS)
    assert np.all((matrix >= 0) & (matrix <= 1))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
tool_keys = st.sampled_from(
    [
        "data",
        "annotations",
        "fields",
        "responses",
        "result",
        "value",
        "choices",
        "user_id",
        "completed_by",
        "was_cancelled",
        "status",
        "text",
        "type",
    ]
)
records = st.lists(
    st.dictionaries(tool_keys | st.text(max_size=4), json_values, max_size=5), max_size=4
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(tasks=records, tool=st.sampled_from(["label-studio", "argilla"]))
def test_malformed_exports_are_refused_by_name_never_with_a_traceback(tmp_path, tasks, tool):
    from eqn.errors import EqnError

    # The keys that make the file look like the tool's export, then anything at all.
    marker = (
        {"data": {}, "annotations": []}
        if tool == "label-studio"
        else {"fields": {}, "responses": {}}
    )
    path = tmp_path / "export.json"
    path.write_text(json.dumps([marker, *tasks]))
    try:
        found = read_annotations(path)
    except EqnError:
        return
    assert len(found.texts) == len(found.votes) <= len(tasks)
