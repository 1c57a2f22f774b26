"""The shipped default model: it loads offline and its top emotions make sense."""

import numpy as np
import pytest

import eqn
from eqn.model.estimator import DEFAULT_MODEL_DIR

# Sentences written for this test, each with the emotions we expect near the top.
EXPECTED = [
    ("Thank you so much for helping me move, you are a lifesaver!", {"gratitude"}),
    ("My grandfather passed away last night and I can't stop crying.", {"sadness", "grief"}),
    ("That video is hilarious, I laughed until I cried.", {"amusement", "joy"}),
    ("I'm terrified that the surgery will go wrong tomorrow.", {"fear", "nervousness"}),
    ("I love you more than anything in the world.", {"love"}),
    (
        "This is the stupidest policy I have ever seen, I'm furious.",
        {"anger", "annoyance", "disapproval"},
    ),
]


def test_shipped_model_is_small_and_documented():
    files = [p for p in DEFAULT_MODEL_DIR.rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) < 5 * 1024 * 1024
    assert (DEFAULT_MODEL_DIR / "MODEL_CARD.md").is_file()


def test_shipped_model_loads_offline_and_ranks_sensible_emotions(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = eqn.load()
    assert len(model.labels) == 28 and model.labels[-1] == "neutral"
    energies = model.energies([text for text, _ in EXPECTED])
    assert energies.shape == (len(EXPECTED), 28)
    for (text, expected), row in zip(EXPECTED, energies, strict=True):
        top3 = {model.labels[j] for j in np.argsort(-row)[:3]}
        assert top3 & expected, f"{text!r}: top three were {sorted(top3)}"
    frame = model.annotate(EXPECTED[0][0])
    assert frame.loc[0, "macro_emotion"] == "gratitude"


@pytest.mark.parametrize("texts", ["One text only.", ["a list", "of texts"]])
def test_one_string_or_many(texts):
    model = eqn.load()
    count = 1 if isinstance(texts, str) else len(texts)
    assert len(model.predict(texts)) == count
    assert len(model.annotate(texts)) == count


def test_shipped_model_is_calibrated_and_on_the_scale():
    model = eqn.load()
    assert model.is_calibrated
    values = model.energies([text for text, _ in EXPECTED])
    assert values.min() >= 0 and values.max() <= 10
    own = model.energies([text for text, _ in EXPECTED], calibrated=False)
    assert own.min() >= 0 and own.max() <= 10
