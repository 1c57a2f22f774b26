import pytest

from eqn.errors import ModelError
from eqn.model import estimator


def test_load_without_a_default_model_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(estimator, "DEFAULT_MODEL_DIR", tmp_path / "absent")
    with pytest.raises(ModelError, match="the default model is missing"):
        estimator.load()


def test_a_damaged_model_folder_names_the_file(tiny_model_dir, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelError, match="model.safetensors is damaged or truncated"):
        estimator.EQN.load(broken)
    (broken / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match=r"config.json cannot be read as JSON"):
        estimator.EQN.load(broken)
    (broken / "config.json").write_text('{"format": "eqn-model/1", "config": 3}', encoding="utf-8")
    with pytest.raises(ModelError, match=r"config.json is not a valid eqn model config"):
        estimator.EQN.load(broken)


def test_failed_fit_leaves_no_learned_state(tiny_dataset):
    import numpy as np

    from eqn.errors import InputError

    model = estimator.EQN(backbone="lstm", epochs=1)
    with pytest.raises(InputError, match="targets have shape"):
        model.fit(tiny_dataset, targets=np.zeros((1, 1)), progress=False)
    assert not hasattr(model, "model_") and not hasattr(model, "labels_")


def test_energies_stay_on_the_scale(tiny_model_dir):
    model = estimator.EQN.load(tiny_model_dir)
    values = model.energies(["I love it", "furious", "x " * 50])
    assert values.min() >= 0 and values.max() <= 10
