import json
import shutil

import numpy as np
import pandas as pd
import pytest

from eqn.data import DatasetSplits
from eqn.data.splits import fold_assignment
from eqn.errors import ConfigError, StageError
from eqn.experiments.pipeline import (
    RelabelOptions,
    default_warm_start,
    read_relabelled,
    run_pipeline,
)
from eqn.model.config import ModelConfig

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
    with pytest.raises(FileExistsError, match="already exists; pass force=True to replace it"):
        run_pipeline(splits, CONFIG, tmp_path, stages=["coeqn"], progress=False)
    run_pipeline(splits, CONFIG, tmp_path, stages=["coeqn"], resume=True, progress=False)
    run_pipeline(splits, CONFIG, tmp_path, stages=["coeqn"], force=True, progress=False)


def test_resuming_a_finished_run_keeps_its_record_and_loads_no_model(splits, tmp_path, monkeypatch):
    first = run_pipeline(splits, CONFIG, tmp_path, progress=False)
    loaded = []
    monkeypatch.setattr("eqn.experiments.pipeline.EQN.load", lambda path: loaded.append(path))
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
    with pytest.raises(StageError, match="continue it with resume=True"):
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


def test_fold_assignment_is_seeded_and_balanced():
    folds = fold_assignment(10, 3, seed=0)
    assert sorted(np.bincount(folds)) == [3, 3, 4]
    assert np.array_equal(folds, fold_assignment(10, 3, seed=0))
    assert not np.array_equal(folds, fold_assignment(10, 3, seed=1))


def test_out_of_fold_relabelling_scores_each_text_with_a_model_that_never_saw_it(
    splits, tmp_path, monkeypatch
):
    from eqn.model.estimator import EQN

    seen: list[set[str]] = []
    original_fit = EQN.fit

    def recording_fit(self, train, *args, **kwargs):
        seen.append(set(train.texts))
        return original_fit(self, train, *args, **kwargs)

    monkeypatch.setattr(EQN, "fit", recording_fit)
    record = run_pipeline(
        splits,
        CONFIG,
        tmp_path,
        stages=["relabel"],
        relabel=RelabelOptions(folds=2),
        progress=False,
    )
    assert len(seen) == 2 and not seen[0] & seen[1]  # each fold model trains on its half
    assert seen[0] | seen[1] == set(splits.train.texts)
    relabel = record["stages"]["relabel"]
    assert relabel["folds"] == 2 and len(relabel["fold_train_seconds"]) == 2
    energies = read_relabelled(tmp_path / "relabelled_train.csv", splits.train)
    assert (energies[splits.train.gold] == 10.0).all()
    assert sorted(p.name for p in (tmp_path / "relabel_folds").iterdir()) == [
        "fold_0.npz",
        "fold_1.npz",
    ]
    # An interrupted relabel resumes from the finished folds without training again.
    (tmp_path / "relabelled_train.csv").unlink()
    seen.clear()
    run_pipeline(
        splits,
        CONFIG,
        tmp_path,
        stages=["relabel"],
        relabel=RelabelOptions(folds=2),
        resume=True,
        progress=False,
    )
    assert seen == []
    assert np.allclose(read_relabelled(tmp_path / "relabelled_train.csv", splits.train), energies)


def test_relabel_folds_are_checked(splits, tmp_path):
    with pytest.raises(StageError, match="relabel folds must be 1 .* got 10000"):
        run_pipeline(splits, CONFIG, tmp_path, relabel=RelabelOptions(folds=10_000), progress=False)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"folds": 0}, "at least 1"),
        ({"teachers": 0}, "at least 1"),
        ({"folds": 2, "teachers": 2}, "not both"),
        ({"teachers": 2, "teacher_loss": "hinge"}, "teacher_loss must be one of"),
        ({"gold_weight": 1.0}, "gold_weight must be at least 0 and below 1"),
        ({"gold_weight": -0.1}, "gold_weight must be at least 0 and below 1"),
    ],
)
def test_relabel_options_are_checked(options, message):
    with pytest.raises(ConfigError, match=message):
        RelabelOptions(**options)


def test_ensemble_teachers_relabel_with_their_mean_and_resume(splits, tmp_path, monkeypatch):
    from eqn.model.estimator import EQN

    options = RelabelOptions(teachers=2)
    assert options.teacher_seeds(0) == [0, 1] and options.teacher_seeds(1) == [2, 3]
    record = run_pipeline(
        splits, CONFIG, tmp_path, stages=["relabel", "eqn"], relabel=options, progress=False
    )
    teachers = [EQN.load(tmp_path / "teachers" / f"seed_{s}") for s in (0, 1)]
    assert [t.config.seed for t in teachers] == [0, 1]
    assert all(t.config.loss == "mse" for t in teachers)
    mean = np.mean([t.energies(splits.train.texts, calibrated=False) for t in teachers], axis=0)
    expected = np.where(splits.train.gold, 10.0, mean)
    relabelled = read_relabelled(tmp_path / "relabelled_train.csv", splits.train)
    np.testing.assert_allclose(relabelled, expected, atol=0.006)
    assert record["relabel"]["teacher_seeds"] == [0, 1]
    assert (tmp_path / "eqn" / "config.json").is_file() and not (tmp_path / "coeqn").exists()
    # resuming relabels again from the saved teachers without training them
    (tmp_path / "relabelled_train.csv").unlink()
    monkeypatch.setattr(EQN, "fit", lambda *a, **k: pytest.fail("a teacher was retrained"))
    run_pipeline(
        splits, CONFIG, tmp_path, stages=["relabel"], relabel=options, resume=True, progress=False
    )
    np.testing.assert_allclose(
        read_relabelled(tmp_path / "relabelled_train.csv", splits.train), relabelled
    )


def test_gold_weight_mixes_the_relabelled_targets_with_the_full_labels(splits, tmp_path):
    plain = tmp_path / "plain"
    run_pipeline(splits, CONFIG, plain, stages=["coeqn", "relabel"], progress=False)
    mixed = tmp_path / "mixed"
    shutil.copytree(plain / "coeqn", mixed / "coeqn")
    record = run_pipeline(
        splits,
        CONFIG,
        mixed,
        stages=["relabel"],
        relabel=RelabelOptions(gold_weight=0.25),
        progress=False,
    )
    before = read_relabelled(plain / "relabelled_train.csv", splits.train)
    after = read_relabelled(mixed / "relabelled_train.csv", splits.train)
    gold = splits.train.gold
    np.testing.assert_allclose(after[gold], 10.0)
    np.testing.assert_allclose(after[~gold], 0.75 * before[~gold], atol=0.01)  # 2 decimals
    assert record["stages"]["relabel"]["gold_weight"] == 0.25


def test_tiny_data_and_chance_scores_are_warned_about(splits, tmp_path, caplog):
    from eqn.experiments.pipeline import chance_score

    assert chance_score(np.array([[1, 0], [1, 0], [0, 1]], dtype=bool), False) == pytest.approx(
        2 / 3
    )
    with caplog.at_level("WARNING"):
        record = run_pipeline(splits, CONFIG, tmp_path, stages=["coeqn"], progress=False)
    warnings = record["stages"]["coeqn"]["warnings"]
    assert any("training texts for" in w for w in warnings)
    assert "training texts for" in caplog.text


def test_a_model_saved_before_its_record_is_scored_on_resume(splits, tmp_path):
    run_pipeline(splits, CONFIG, tmp_path, stages=["coeqn"], progress=False)
    record = json.loads((tmp_path / "run.json").read_text())
    del record["stages"]["coeqn"]  # as if killed after the save, before run.json
    (tmp_path / "run.json").write_text(json.dumps(record))
    again = run_pipeline(splits, CONFIG, tmp_path, stages=["coeqn"], resume=True, progress=False)
    assert "metrics" in again["stages"]["coeqn"]
    assert "metrics" in json.loads((tmp_path / "run.json").read_text())["stages"]["coeqn"]


def test_default_warm_start_by_task():
    assert default_warm_start(multilabel=False, backbone="transformer")
    assert not default_warm_start(multilabel=True, backbone="transformer")
    assert not default_warm_start(multilabel=False, backbone="lstm")


@pytest.fixture
def single_label_splits(tiny_dataset):
    from eqn.data import Dataset

    first = [tiny_dataset.gold_names(i)[:1] for i in range(len(tiny_dataset))]
    dataset = Dataset.from_lists(list(tiny_dataset.texts), first, name="single")
    assert not dataset.is_multilabel
    return DatasetSplits(dataset, dataset, dataset, {"method": "given"})


def tiny_transformer_config(tiny_bert) -> ModelConfig:
    return ModelConfig(
        backbone="transformer",
        epochs=1,
        batch_size=8,
        dense_dim=8,
        backbone_options={"model_name_or_path": str(tiny_bert), "max_length": 16},
    )


@pytest.mark.parametrize(
    ("warm_start", "relabel", "expected"),
    [
        (None, RelabelOptions(), True),  # single-label data, transformer: warm by default
        (False, RelabelOptions(), False),  # the user's choice stands
        (None, RelabelOptions(teachers=2), False),  # no Model 1 relabelled: fresh
    ],
)
def test_model_2_starts_warm_on_single_label_data_with_the_transformer(
    single_label_splits, tiny_bert, tmp_path, warm_start, relabel, expected
):
    stages = ["relabel", "eqn"] if relabel.teachers > 1 else ["coeqn", "relabel", "eqn"]
    record = run_pipeline(
        single_label_splits,
        tiny_transformer_config(tiny_bert),
        tmp_path,
        stages=stages,
        warm_start=warm_start,
        relabel=relabel,
        progress=False,
    )
    assert record["stages"]["eqn"]["warm_start"] is expected


def test_multilabel_data_keeps_the_fresh_start(splits, tiny_bert, tmp_path):
    assert splits.train.is_multilabel
    record = run_pipeline(splits, tiny_transformer_config(tiny_bert), tmp_path, progress=False)
    assert record["stages"]["eqn"]["warm_start"] is False
