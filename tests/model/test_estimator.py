import pytest

from eqn.errors import ModelError
from eqn.model import estimator, inference
from eqn.model.estimator import EQN


def test_load_without_a_default_model_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(inference, "DEFAULT_MODEL_DIR", tmp_path / "absent")
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


def test_training_on_texts_of_one_label_is_refused():
    from eqn.data import Dataset
    from eqn.errors import InputError

    one = Dataset.from_lists(["I love it", "so happy"], [["joy"], ["joy"]])
    with pytest.raises(InputError, match="carry only 'joy' of the 1 labels: a model needs"):
        estimator.EQN(backbone="lstm", epochs=1).fit(one, progress=False)
    listed = Dataset.from_lists(["I love it", "wow"], [["joy"], ["joy"]], labels=["joy", "sad"])
    with pytest.raises(InputError, match="carry only 'joy' of the 2 labels"):
        estimator.EQN(backbone="lstm", epochs=1).fit(listed, progress=False)


def test_energies_stay_on_the_scale(tiny_model_dir):
    model = estimator.EQN.load(tiny_model_dir)
    values = model.energies(["I love it", "furious", "x " * 50])
    assert values.min() >= 0 and values.max() <= 10


def test_fit_with_dev_calibrates_and_save_load_keeps_it(tiny_dataset, tmp_path):
    import numpy as np

    model = estimator.EQN(backbone="lstm", epochs=2, batch_size=4).fit(
        tiny_dataset, tiny_dataset, progress=False
    )
    assert model.is_calibrated and model.calibrated_threshold_ is not None
    raw = model.energies(tiny_dataset.texts, calibrated=False)
    calibrated = model.energies(tiny_dataset.texts)
    assert not np.allclose(raw, calibrated)
    for j in range(raw.shape[1]):  # the map never reorders a label's texts
        order = np.argsort(raw[:, j], kind="stable")
        assert (np.diff(calibrated[order, j]) >= 0).all()
    loaded = estimator.EQN.load(model.save(tmp_path / "m"))
    np.testing.assert_array_equal(loaded.energies(tiny_dataset.texts), calibrated)
    assert loaded.threshold_for(True) == model.threshold_for(True)
    assert loaded.threshold_for(False) == model.threshold_ != loaded.threshold_for(True)
    assert loaded.provenance(True, 1.0)["model_hash"] == loaded.model_hash


def test_a_model_without_calibration_loads_uncalibrated_and_can_be_calibrated(
    tiny_model_dir, tiny_dataset, tmp_path, caplog
):
    import json
    import shutil

    old = tmp_path / "old"
    shutil.copytree(tiny_model_dir, old)
    (old / "calibration.json").unlink()
    summary = json.loads((old / "config.json").read_text())
    summary["format"] = "eqn-model/1"
    summary["thresholds"].pop("calibrated")
    (old / "config.json").write_text(json.dumps(summary))
    with caplog.at_level("WARNING"):
        model = estimator.EQN.load(old)
    assert "has no calibration" in caplog.text and not model.is_calibrated
    assert model.threshold_for(True) == model.threshold_
    before = model.model_hash
    model.calibrate(tiny_dataset)
    assert model.is_calibrated and model.model_hash != before


def test_replacing_a_model_folder_keeps_its_model_card(tiny_model_dir, tiny_dataset, tmp_path):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    (folder / "MODEL_CARD.md").write_text("# what people wrote\n", encoding="utf-8")
    model = estimator.EQN.load(folder).calibrate(tiny_dataset)
    model.save(folder, force=True)
    assert (folder / "MODEL_CARD.md").read_text(encoding="utf-8") == "# what people wrote\n"
    assert estimator.EQN.load(folder).is_calibrated


def test_a_model_keeps_its_hash_through_save_and_load(tiny_dataset, tmp_path):
    from eqn.model.inference import hash_saved_model

    model = EQN(
        backbone="lstm",
        epochs=1,
        batch_size=4,
        dense_dim=8,
        backbone_options={"embedding_dim": 8, "hidden_size": 8, "max_length": 12},
    ).fit(tiny_dataset, tiny_dataset, progress=False)
    before = model.model_hash  # in memory: the bytes save() would write
    folder = model.save(tmp_path / "m")
    assert hash_saved_model(folder) == before
    assert EQN.load(folder).model_hash == before


def _damaged(source, tmp_path, name="damaged"):
    import shutil

    target = tmp_path / name
    shutil.copytree(source, target)
    return target


def test_model_folder_damage_is_named_not_dumped(tiny_transformer_dir, tmp_path):
    import json

    import eqn

    folder = _damaged(tiny_transformer_dir, tmp_path, "tokenizer")
    tokenizer = folder / "encoder" / "tokenizer.json"
    tokenizer.write_bytes(tokenizer.read_bytes()[:50])
    for runtime in ("torch", "onnx"):
        with pytest.raises(ModelError, match="damaged; restore the model folder"):
            eqn.load(folder, runtime=runtime)
    folder = _damaged(tiny_transformer_dir, tmp_path, "no-encoder")
    import shutil

    shutil.rmtree(folder / "encoder")
    with pytest.raises(ModelError, match="encoder is missing: the model folder is incomplete"):
        eqn.load(folder, runtime="torch")
    folder = _damaged(tiny_transformer_dir, tmp_path, "edited")
    config = json.loads((folder / "config.json").read_text())
    del config["thresholds"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"has no tuned threshold \('thresholds'\)"):
        eqn.load(folder, runtime="torch")
    config = json.loads((tiny_transformer_dir / "config.json").read_text())
    config["config"]["backbone_options"]["lora_r"] = 2 * config["config"]["backbone_options"].get(
        "lora_r", 8
    )
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"weights differ in shape .* changed after training"):
        eqn.load(folder, runtime="torch")


def test_renamed_labels_are_named(tiny_model_dir, tmp_path):
    import json

    folder = _damaged(tiny_model_dir, tmp_path)
    (folder / "labels.txt").unlink()
    config = json.loads((folder / "config.json").read_text())
    config["labels"] = [f"L{i}" for i in range(len(config["labels"]))]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"per-label thresholds name other labels .*'L0'"):
        EQN.load(folder)


def test_damaged_backbone_files_and_odd_records_are_named(tiny_model_dir, tmp_path):
    import json

    folder = _damaged(tiny_model_dir, tmp_path, "vocab")
    vocab = folder / "vocab.json"
    vocab.write_bytes(vocab.read_bytes()[:30])
    with pytest.raises(ModelError, match="the lstm backbone's files are damaged or missing"):
        EQN.load(folder)
    folder = _damaged(tiny_model_dir, tmp_path, "fit")
    config = json.loads((folder / "config.json").read_text())
    config["fit"] = 3  # the record of how it was fitted is informative only
    (folder / "config.json").write_text(json.dumps(config))
    assert EQN.load(folder).history_ == []
