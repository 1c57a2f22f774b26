import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from eqn.core.annotation import (
    annotate_energies,
    check_threshold,
    format_micro_emotions,
    label_sets,
)
from eqn.errors import InputError

LABELS = ("joy", "anger", "fear")
ENERGIES = np.array([[8.7, 2.3, 0.4], [6.1, 0.0, 7.9], [1.2, 9.4, 9.4]])


def test_label_sets_keep_energies_at_or_above_h_and_the_top_label():
    kept = label_sets(ENERGIES, 2.3)
    np.testing.assert_array_equal(kept, [[1, 1, 0], [1, 0, 1], [0, 1, 1]])
    # the top label is kept even below h; ties go to the first label
    np.testing.assert_array_equal(label_sets(ENERGIES, 9.5), [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(
        label_sets(ENERGIES, 9.5, keep_top=False), np.zeros((3, 3), dtype=bool)
    )


def test_label_sets_per_label_thresholds_and_zero_means_absent():
    per_label = label_sets(ENERGIES, [7.0, 0.0, 8.0], keep_top=False)
    # anger at threshold 0 is kept where its energy is positive, never where it is 0
    np.testing.assert_array_equal(per_label, [[1, 1, 0], [0, 0, 0], [0, 1, 1]])
    with pytest.raises(InputError, match="one value per label"):
        label_sets(ENERGIES, [1.0, 2.0])


def test_annotation_schema_macro_micro_and_shown_energies():
    batch = annotate_energies(["a", "b", "c"], ENERGIES, LABELS, 2.3)
    first, second, third = batch.records()
    assert first.macro_emotion == "joy"
    assert [(m.label, m.energy) for m in first.micro_emotions] == [("anger", 2.3)]
    assert first.energies == {"joy": 8.7, "anger": 2.3, "fear": 0.0}  # below h reads 0
    assert second.macro_emotion == "fear" and [m.label for m in second.micro_emotions] == ["joy"]
    assert third.macro_emotion == "anger" and [m.label for m in third.micro_emotions] == ["fear"]
    raw = annotate_energies(["a"], ENERGIES[:1], LABELS, 2.3, raw=True).records()[0]
    assert raw.energies["fear"] == 0.4 and [m.label for m in raw.micro_emotions] == ["anger"]
    assert first.to_dict()["micro_emotions"] == [{"label": "anger", "energy": 2.3}]


def test_frame_and_records_are_the_same_annotation():
    batch = annotate_energies(["a", "b", "c"], ENERGIES, LABELS, 2.3)
    frame = batch.frame()
    assert list(frame.columns) == ["text", *LABELS, "macro_emotion", "micro_emotions", "eqn_flag"]
    for row, record in zip(frame.itertuples(index=False), batch.records(), strict=True):
        assert row.macro_emotion == record.macro_emotion
        assert row.micro_emotions == format_micro_emotions(
            [(m.label, m.energy) for m in record.micro_emotions]
        )


def test_empty_texts_have_no_macro_or_micro_emotion():
    batch = annotate_energies(["", "x"], np.zeros((2, 3)), LABELS, 0.0, empty=[True, False])
    empty, zero = batch.records()
    assert empty.macro_emotion == "" and empty.micro_emotions == ()
    assert zero.macro_emotion == "joy" and zero.micro_emotions == ()


@pytest.mark.parametrize("bad", [11, -1, float("nan"), float("inf"), -math.inf, "high", None])
def test_thresholds_must_be_finite_and_on_the_scale(bad):
    with pytest.raises(InputError, match="threshold must be a"):
        check_threshold(bad)


def test_thresholds_on_the_scale_pass():
    assert (
        check_threshold(0) == 0.0 and check_threshold("2.95") == 2.95 and check_threshold(10) == 10
    )


@settings(max_examples=200, deadline=None)
@given(
    energies=arrays(np.float64, (4, 3), elements=st.floats(0, 10, allow_nan=False)),
    threshold=st.floats(0, 10, allow_nan=False),
)
def test_eq8_invariants(energies, threshold):
    batch = annotate_energies(["t"] * 4, energies, LABELS, threshold)
    for i, record in enumerate(batch.records()):
        top = LABELS[int(np.argmax(energies[i]))]
        assert record.macro_emotion == top
        for micro in record.micro_emotions:
            assert micro.label != top and micro.energy >= threshold and micro.energy > 0
        kept = {m.label for m in record.micro_emotions} | {top}
        shown = {label for label, value in record.energies.items() if value > 0}
        assert shown <= kept
        # every label at or above h with positive energy is kept
        expected = {
            LABELS[j] for j in range(3) if energies[i, j] >= threshold and energies[i, j] > 0
        }
        assert expected <= kept
