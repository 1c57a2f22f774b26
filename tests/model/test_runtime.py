"""One loader and one default runtime for every command."""

from __future__ import annotations

import pytest

from eqn.errors import ConfigError
from eqn.model.estimator import EQN
from eqn.model.runtime import load_model, resolve_runtime


def test_auto_means_int8_onnx_for_transformers_on_the_cpu_and_torch_otherwise(monkeypatch):
    monkeypatch.setattr("eqn.model.runtime._gpu_visible", lambda: False)
    assert resolve_runtime("auto", "auto", "transformer") == "onnx-int8"
    assert resolve_runtime("auto", "cpu", "lstm") == "torch"
    assert resolve_runtime("auto", "cuda", "transformer") == "torch"
    assert resolve_runtime("onnx", "cpu", "transformer") == "onnx"


def test_bad_runtime_choices_are_clear_errors(tiny_model_dir):
    with pytest.raises(ConfigError, match="unknown runtime 'tensorrt'; choose one of auto"):
        resolve_runtime("tensorrt", "cpu", "transformer")
    with pytest.raises(ConfigError, match="runs on the CPU; use device 'cpu'"):
        resolve_runtime("onnx", "cuda", "transformer")
    with pytest.raises(ConfigError, match="ONNX runtimes run transformer models"):
        load_model(tiny_model_dir, device="cpu", runtime="onnx")
    assert isinstance(load_model(tiny_model_dir, device="cpu"), EQN)  # auto: torch for LSTM


def test_a_folder_holding_models_names_them(tiny_model_dir, tmp_path):
    import shutil

    import pytest

    from eqn.errors import ModelError
    from eqn.model.runtime import load_model

    shutil.copytree(tiny_model_dir, tmp_path / "run" / "eqn")
    with pytest.raises(ModelError, match=r"training run's folder, not a model: its model is .*eqn"):
        load_model(tmp_path / "run")  # no run.json: not known to be a run eqn made


def test_a_run_folder_loads_the_model_its_run_selected(tiny_model_dir, tmp_path):
    import json
    import shutil

    import pytest

    from eqn.errors import ModelError
    from eqn.model.estimator import EQN
    from eqn.model.runtime import load_model

    run = tmp_path / "run"
    for name in ("eqn", "M"):
        shutil.copytree(tiny_model_dir, run / name)
    (run / "run.json").write_text(json.dumps({"stages": {}}))
    with pytest.raises(ModelError, match=r"chose no model: name one of .*eqn, .*M"):
        load_model(run)
    (run / "run.json").write_text(json.dumps({"selected": "M"}))
    assert load_model(run).source_ == str(run / "M")
    assert EQN.load(run).source_ == str(run / "M")
    shutil.rmtree(run / "M")
    with pytest.raises(ModelError, match=r"whose model .*M is missing; restore it, or name"):
        load_model(run)  # never the other model in its place
    shutil.copytree(tiny_model_dir, run / "M")
    shutil.rmtree(run / "eqn")
    (run / "run.json").write_text(json.dumps({"stages": {}}))
    assert load_model(run).source_ == str(run / "M")  # the only model it holds


def test_labels_txt_that_contradicts_the_config_is_refused(tiny_model_dir, tmp_path):
    import shutil

    import pytest

    from eqn.errors import ModelError
    from eqn.model.runtime import load_model

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    labels = (folder / "labels.txt").read_text().split()
    labels[0], labels[1] = labels[1], labels[0]
    (folder / "labels.txt").write_text("\n".join(labels) + "\n")
    with pytest.raises(ModelError, match=r"labels.txt contradicts .*config.json: label 1"):
        load_model(folder)
