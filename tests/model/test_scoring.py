"""The model's one scoring step: every read of energies agrees on empty and truncated texts."""

import numpy as np
import pytest

import eqn
from eqn.model.estimator import EQN


@pytest.fixture(scope="module", params=["lstm", "shipped"])
def model(request, tiny_model_dir):
    # The shipped model on the default runtime (ONNX), as users meet it, and a torch model.
    return EQN.load(tiny_model_dir) if request.param == "lstm" else eqn.load()


def test_empty_text_is_all_zero_with_no_emotion_on_every_route(model):
    texts = ["", "   ", "I love it"]
    energies = model.energies(texts)
    assert energies[:2].max() == 0.0 and energies[2].max() > 0
    assert model.predict(texts)[:2] == [[], []]
    assert model.predict(texts, k=1)[:2] == [[], []]
    frame = model.annotate(texts)
    assert list(frame["macro_emotion"][:2]) == ["", ""]
    assert list(frame["eqn_flag"][:2]) == ["empty", "empty"]
    np.testing.assert_array_equal(model.score(texts).energies, energies)


def test_calibration_is_one_map_applied_once(model):
    scored = model.score(["I love it", ""], calibrated=False)
    calibrated = model.calibrate_scores(scored)
    assert calibrated.energies[1].max() == 0.0  # empty texts stay at zero
    np.testing.assert_allclose(
        calibrated.energies[0], model.apply_calibration(scored.energies[:1])[0], atol=1e-6
    )
    np.testing.assert_allclose(calibrated.energies, model.energies(["I love it", ""]), atol=1e-6)


def test_predict_and_annotate_keep_the_same_labels(model):
    texts = ["What a lovely surprise, I adore it!", "I'm scared of what might happen."]
    frame = model.annotate(texts)
    for row, labels in zip(frame.itertuples(), model.predict(texts), strict=True):
        micro = [part.split(":")[0] for part in row.micro_emotions.split(";") if part]
        assert set(labels) == {row.macro_emotion, *micro}


def test_overlapped_tokenising_gives_the_same_scores(tiny_transformer_dir, monkeypatch):
    import eqn.model.inference as inference

    monkeypatch.setattr(inference, "OVERLAP_BLOCK", 3)
    model = EQN.load(tiny_transformer_dir, device="cpu")
    texts = ["I love it", "", "so sad today", "what a day " * 200, "ok", "fine", "hmm"]
    model.overlap_encoding = False
    plain = model.score(texts)
    model.overlap_encoding = True
    overlapped = model.score(texts)
    np.testing.assert_allclose(overlapped.energies, plain.energies, atol=1e-5)
    assert overlapped.flags == plain.flags and "truncated" in plain.flags


def test_half_precision_stays_near_fp32_and_is_torch_only(tiny_transformer_dir):
    from eqn.errors import ConfigError

    model = EQN.load(tiny_transformer_dir, device="cpu")
    texts = ["I love it", "so sad today", "what a surprise"]
    fp32 = model.energies(texts, calibrated=False)
    bf16 = model.with_precision("bf16").energies(texts, calibrated=False)
    assert np.abs(bf16 - fp32).max() < 0.5  # bf16 keeps 8 bits of mantissa
    with pytest.raises(ConfigError, match="unknown precision 'fp8'; choose one of fp32"):
        model.with_precision("fp8")
    with pytest.raises(ConfigError, match="precision 'fp16' runs with runtime 'torch'"):
        eqn.load(tiny_transformer_dir, runtime="onnx", precision="fp16")
    assert eqn.load(tiny_transformer_dir, precision="bf16").runtime == "torch"
