import pytest

from eqn.annotation.texts import AnnotationSummary, annotate_texts, score_texts
from eqn.errors import InputError
from eqn.model.estimator import EQN


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return EQN.load(tiny_model_dir)


def test_annotate_texts_flags_empty_and_truncated(model):
    batch = annotate_texts(model, ["I love it", "", None, "word " * 40])
    frame, summary = batch.frame(), AnnotationSummary.of(batch)
    labels = list(model.labels)
    assert (frame.loc[1, labels] == 0).all() and frame.loc[1, "eqn_flag"] == "empty"
    assert frame.loc[2, "eqn_flag"] == "empty" and frame.loc[3, "eqn_flag"] == "truncated"
    assert (summary.rows, summary.empty, summary.truncated) == (4, 2, 1)
    assert frame.loc[0, "macro_emotion"] in labels


def test_micro_emotions_are_the_other_labels_at_or_above_h(model):
    frame = annotate_texts(model, ["What a lovely surprise, I adore it!"], threshold=0.0).frame()
    energies = model.energies("What a lovely surprise, I adore it!")[0]
    top = model.labels[int(energies.argmax())]
    micro = frame.loc[0, "micro_emotions"]
    names = [part.split(":")[0] for part in micro.split(";") if part]
    assert top not in names and frame.loc[0, "macro_emotion"] == top
    assert set(names) == {lab for lab, e in zip(model.labels, energies, strict=True) if e > 0} - {
        top
    }
    values = [float(part.split(":")[1]) for part in micro.split(";") if part]
    assert values == sorted(values, reverse=True)


def test_scored_once_annotated_at_any_threshold(model):
    scored = model.score(["I love it", "so scared"])
    low, high = scored.annotate(model.labels, 0.5), scored.annotate(model.labels, 9.5)
    assert low.energies is high.energies or (low.energies == high.energies).all()
    assert all(
        len(r.micro_emotions) <= len(s.micro_emotions)
        for r, s in zip(high.records(), low.records(), strict=True)
    )


@pytest.mark.parametrize("bad", [11, -1, float("nan"), float("inf")])
def test_threshold_off_the_scale_is_refused(model, bad):
    with pytest.raises(InputError, match="threshold must be a finite number from 0 to 10"):
        annotate_texts(model, ["I love it"], threshold=bad)


def test_the_old_helpers_still_work_and_say_they_are_deprecated(model):
    with pytest.warns(DeprecationWarning, match="model.score"):
        old = score_texts(model, ["I love it"])
    assert (old.energies == model.score(["I love it"]).energies).all()
