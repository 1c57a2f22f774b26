import json

import numpy as np
import pandas as pd
import pytest

from eqn.config import ModelConfig
from eqn.data import DatasetSplits
from eqn.pipeline import StageError, read_relabelled, run_pipeline

CONFIG = ModelConfig(
    backbone="lstm", epochs=1, batch_size=4, backbone_options={"embedding_dim": 8, "hidden_size": 8}
)


@pytest.fixture
def splits(tiny_dataset):
    return DatasetSplits(tiny_dataset, tiny_dataset, tiny_dataset, {"method": "given"})


def test_full_pipeline_writes_models_relabelled_set_and_run_record(splits, tmp_path):
    record = run_pipeline(splits, CONFIG, tmp_path, progress=False)
    assert (tmp_path / "coeqn" / "model.safetensors").is_file()
    assert (tmp_path / "eqn" / "config.json").is_file()
    frame = pd.read_csv(tmp_path / "relabelled_train.csv")
    assert list(frame.columns[:2]) == ["text", "labels"]
    assert list(frame.columns[2:]) == list(splits.labels)
    energies = frame[list(splits.labels)].to_numpy()
    assert (energies[splits.train.gold] == 10.0).all()
    assert energies.min() >= 0 and energies.max() <= 10
    assert np.allclose(energies, energies.round(2))
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["seed"] == 0 and "torch" in saved["environment"]
    stage = saved["stages"]["eqn"]
    assert stage["warm_start"] is False
    assert {"dev", "test"} <= set(stage["metrics"])
    assert "thresholded" in stage["metrics"]["test"] and "paper" in stage["metrics"]["test"]
    assert record["stages"].keys() == {"coeqn", "relabel", "eqn"}


def test_baselines_and_warm_start(splits, tmp_path):
    record = run_pipeline(
        splits,
        CONFIG,
        tmp_path,
        stages=["M", "S", "coeqn", "relabel", "eqn"],
        warm_start=True,
        progress=False,
    )
    assert json.loads((tmp_path / "M" / "config.json").read_text())["config"]["objective"] == "M"
    assert record["stages"]["eqn"]["warm_start"] is True


def test_outputs_are_not_overwritten_without_force(splits, tmp_path):
    run_pipeline(splits, CONFIG, tmp_path, stages=["coeqn"], progress=False)
    with pytest.raises(FileExistsError, match="already exists; pass --force to replace it"):
        run_pipeline(splits, CONFIG, tmp_path, stages=["coeqn"], progress=False)
    run_pipeline(splits, CONFIG, tmp_path, stages=["coeqn"], resume=True, progress=False)
    run_pipeline(splits, CONFIG, tmp_path, stages=["coeqn"], force=True, progress=False)


def test_resuming_a_finished_run_keeps_its_record_and_loads_no_model(splits, tmp_path, monkeypatch):
    first = run_pipeline(splits, CONFIG, tmp_path, progress=False)
    loaded = []
    monkeypatch.setattr("eqn.pipeline.EQN.load", lambda path: loaded.append(path))
    again = run_pipeline(splits, CONFIG, tmp_path, resume=True, progress=False)
    assert loaded == []
    assert again["stages"]["eqn"]["metrics"] == first["stages"]["eqn"]["metrics"]


def test_stages_say_what_they_need(splits, tmp_path):
    with pytest.raises(StageError, match="run the 'coeqn' stage first"):
        run_pipeline(splits, CONFIG, tmp_path, stages=["relabel"], progress=False)
    with pytest.raises(StageError, match="run the 'relabel' stage first"):
        run_pipeline(splits, CONFIG, tmp_path, stages=["eqn"], progress=False)
    with pytest.raises(StageError, match="unknown stage\\(s\\) train"):
        run_pipeline(splits, CONFIG, tmp_path, stages=["train"], progress=False)


def test_max_steps_stops_with_a_checkpoint_and_resume_finishes(splits, tmp_path):
    with pytest.raises(StageError, match="continue it with --resume"):
        run_pipeline(
            splits,
            CONFIG.replace(epochs=2),
            tmp_path,
            stages=["coeqn"],
            max_steps=2,
            progress=False,
        )
    assert (tmp_path / "checkpoints" / "coeqn" / "checkpoint.pt").is_file()
    run_pipeline(
        splits, CONFIG.replace(epochs=2), tmp_path, stages=["coeqn"], resume=True, progress=False
    )
    assert (tmp_path / "coeqn" / "model.safetensors").is_file()


def test_relabelled_file_is_checked_against_the_training_set(splits, tmp_path):
    run_pipeline(splits, CONFIG, tmp_path, stages=["coeqn", "relabel"], progress=False)
    other = splits.train.subset([0, 1])
    with pytest.raises(StageError, match="made from a different training set"):
        read_relabelled(tmp_path / "relabelled_train.csv", other)
    frame = pd.read_csv(tmp_path / "relabelled_train.csv").drop(columns=["joy"])
    frame.to_csv(tmp_path / "broken.csv", index=False)
    with pytest.raises(ValueError, match="lacks energy columns joy; found columns: text, labels"):
        read_relabelled(tmp_path / "broken.csv", splits.train)
