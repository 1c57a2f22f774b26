"""Continuing from a model: its weights, config and labels; judged on a held-out share."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eqn.data import Dataset
from eqn.data.label_studio import read_export
from eqn.errors import InputError
from eqn.experiments.continued import (
    annotated_data,
    continue_training,
    cross_fitted_label_sets,
    held_out_positions,
)
from eqn.model.estimator import EQN


def export_file(tmp_path, labels, tasks=20):
    rows = []
    for i in range(tasks):
        first, second = labels[i % len(labels)], labels[(i + 1) % len(labels)]
        rows.append(
            {
                "id": i,
                "data": {"text": f"I feel {first} today, number {i}"},
                "annotations": [
                    {
                        "completed_by": 1,
                        "result": [{"type": "choices", "value": {"choices": [first]}}],
                    },
                    {
                        "completed_by": 2,
                        "result": [{"type": "choices", "value": {"choices": [first, second]}}],
                    },
                ],
            }
        )
    path = tmp_path / "export.json"
    path.write_text(json.dumps(rows))
    return path


def test_a_continued_model_keeps_the_parents_maps_on_little_data(tiny_model_dir, tmp_path):
    parent = EQN.load(tiny_model_dir)
    export = read_export(export_file(tmp_path, parent.labels))
    data = annotated_data(export, parent.labels, 0.25, 0, "export.json")
    held = len(held_out_positions(export.texts, 0.25, 0))
    assert len(data.train) == 20 - held and len(data.held_out) == held and 1 <= held < 20
    record = continue_training(parent, data, tmp_path / "run", epochs=1, progress=False)
    child = EQN.load(tmp_path / "run" / "eqn")
    assert child.labels == parent.labels and child.config.backbone == parent.config.backbone
    assert (
        child.threshold_ == parent.threshold_
        and "kept from the parent" in record["calibration_and_h"]
    )
    assert record["data"]["annotators"] == 2 and record["data"]["annotations"] == 40
    assert set(record["held_out_macro_f1"]) == {"parent", "continued"}
    assert json.loads((tmp_path / "run" / "run.json").read_text())["parent"]["model"] == "tiny"


def test_labels_the_model_lacks_are_named(tiny_model_dir, tmp_path):
    parent = EQN.load(tiny_model_dir)
    export = read_export(export_file(tmp_path, ["zorblax", parent.labels[0]]))
    with pytest.raises(InputError, match="annotators chose 'zorblax'"):
        annotated_data(export, parent.labels, 0.2, 0, "export.json")


def test_reviewers_may_choose_one_label_in_a_batch(tiny_model_dir, tmp_path):
    parent = EQN.load(tiny_model_dir)
    label = parent.labels[0]
    export = read_export(export_file(tmp_path, [label]))
    data = annotated_data(export, parent.labels, 0.25, 0, "export.json")
    record = continue_training(parent, data, tmp_path / "run", epochs=1, progress=False)
    assert record["train_texts"] == len(data.train)


def test_labels_the_annotators_chose_can_be_added(tiny_model_dir, tmp_path):
    parent = EQN.load(tiny_model_dir)
    export = read_export(export_file(tmp_path, ["zorblax", *parent.labels[:2]]))
    data = annotated_data(export, parent.labels, 0.25, 0, "export.json", add_labels=True)
    assert data.train.labels == (*parent.labels, "zorblax")
    assert data.record["added_labels"] == ["zorblax"]
    record = continue_training(parent, data, tmp_path / "run", epochs=1, progress=False)
    child = EQN.load(tmp_path / "run" / "eqn")
    assert child.labels == (*parent.labels, "zorblax")
    assert child.energies(["zorblax today"]).shape == (1, len(parent.labels) + 1)
    assert "held_out_macro_f1_with_added_labels" in record
    assert len(child.label_thresholds_) == len(child.labels)
    if child.calibration_ is not None:
        assert child.calibration_.labels == child.labels


def test_a_grown_head_keeps_the_parents_rows(tiny_model_dir):
    import torch

    parent = EQN.load(tiny_model_dir)
    labels = (*parent.labels, "zorblax")
    grown = Dataset(["a text", "another"], labels, np.eye(2, len(labels), dtype=bool))
    network = EQN(parent.config)._build(grown, warm_start_from=parent)
    old, new = parent._fitted().head[-1], network.head[-1]
    assert new.weight.shape[0] == len(parent.labels) + 1
    assert torch.equal(new.weight[:-1], old.weight) and torch.equal(new.bias[:-1], old.bias)


@settings(max_examples=50, deadline=None)
@given(
    texts=st.lists(st.text(min_size=1, max_size=12), min_size=2, max_size=40, unique=True),
    more=st.lists(st.text(min_size=1, max_size=12), max_size=40, unique=True),
    share=st.floats(0.05, 0.5),
)
def test_a_text_is_held_out_in_every_export_of_a_growing_project_or_in_none(texts, more, share):
    # A review loop's next export holds the same tasks and more: no text may move from
    # training to held out, or a version would be judged on what it trained on.
    grown = texts + [t for t in more if t not in texts]
    before = {texts[i] for i in held_out_positions(texts, share, 0)}
    after = {grown[i] for i in held_out_positions(grown, share, 0)}
    moved = (after & set(texts)) - before
    # Only the fallback that keeps one text on each side may move one.
    assert len(moved) <= 1 and 1 <= len(after) < len(grown)


def test_cross_fitting_never_labels_a_text_with_an_h_its_own_gold_fitted():
    from types import SimpleNamespace

    energies = np.linspace(0, 10, 40)[:, None]  # one label; gold decides where h goes
    model = SimpleNamespace(
        labels=("joy",),
        calibration_=None,
        config=SimpleNamespace(max_energy=10.0, keep_top=False),
        energies=lambda texts, calibrated: energies,
    )
    texts = [f"text {i}" for i in range(40)]

    def label_sets(cut_even, cut_odd):
        cut = [cut_even if i % 2 == 0 else cut_odd for i in range(40)]
        gold = [["joy"] if energies[i, 0] > cut[i] else [] for i in range(40)]
        return cross_fitted_label_sets(model, Dataset.from_lists(texts, gold, ("joy",)))

    first, second = label_sets(5, 5), label_sets(5, 8)
    # Only the even texts fit the h that labels the odd ones, and the other way round.
    assert np.array_equal(first[1::2], second[1::2])
    assert not np.array_equal(first[0::2], second[0::2])


def test_a_continued_model_refitted_on_the_held_out_share_is_judged_on_the_other_half(
    tiny_model_dir, tmp_path
):
    parent = EQN.load(tiny_model_dir)
    export = read_export(export_file(tmp_path, parent.labels, tasks=900))
    data = annotated_data(export, parent.labels, 0.25, 0, "export.json")
    record = continue_training(parent, data, tmp_path / "run", epochs=1, progress=False)
    assert record["calibration_and_h"] == "fitted again on the held-out share"
    assert record["held_out_judged"].startswith("each model's maps and h fitted on one half")
    assert record["better_than_parent"] == (
        record["held_out_macro_f1"]["continued"] >= record["held_out_macro_f1"]["parent"]
    )
