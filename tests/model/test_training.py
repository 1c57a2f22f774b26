import numpy as np
import pytest
import torch

from eqn.core import energy as E
from eqn.model.config import ModelConfig
from eqn.model.estimator import EQN
from eqn.model.network import compute_loss, positive_weights
from eqn.model.training import make_batches, resample_indices


def test_batches_are_fixed_by_seed_and_epoch_and_cover_every_sample():
    lengths = np.random.default_rng(0).integers(1, 60, size=103)
    first = make_batches(lengths, 8, seed=1, epoch=0)
    assert [b.tolist() for b in first] == [b.tolist() for b in make_batches(lengths, 8, 1, 0)]
    assert [b.tolist() for b in first] != [b.tolist() for b in make_batches(lengths, 8, 1, 1)]
    assert sorted(np.concatenate(first).tolist()) == list(range(103))


def test_length_bucketing_reduces_padding():
    lengths = np.random.default_rng(0).integers(1, 120, size=2000)

    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    bucketed = padded(make_batches(lengths, 32, 0, 0, bucket=True))
    shuffled = padded(make_batches(lengths, 32, 0, 0, bucket=False))
    assert bucketed < 0.7 * shuffled


def test_positive_weights_favour_rare_labels_with_the_asked_mean():
    gold = np.array([[1, 0], [1, 0], [1, 0], [0, 1]], dtype=bool)
    weights = positive_weights(gold, mean=3.0)
    assert weights.mean() == pytest.approx(3.0)
    assert weights[1] / weights[0] == pytest.approx(np.sqrt(3.0))


def test_resampling_balances_towards_the_median():
    gold = np.zeros((40, 3), dtype=bool)
    gold[:30, 0] = True
    gold[30:36, 1] = True
    gold[36:, 2] = True
    over = resample_indices(gold, "oversample", seed=0)
    under = resample_indices(gold, "undersample", seed=0)
    assert gold[over, 2].sum() > 4 and len(over) > 40
    assert gold[under, 0].sum() < 30 and gold[under, 2].sum() == 4
    assert (resample_indices(gold, "none", 0) == np.arange(40)).all()


@pytest.mark.parametrize(
    ("objective", "loss"), [("energy", "mse"), ("energy", "bce"), ("M", "mse"), ("S", "mse")]
)
def test_losses_are_finite_and_weighted(objective, loss):
    config = ModelConfig(backbone="lstm", objective=objective, loss=loss)
    outputs = torch.tensor([[2.0, -1.0], [0.5, 3.0]], requires_grad=True)
    gold = torch.tensor([[True, False], [False, True]])
    targets = torch.where(gold, 10.0, 0.0)
    plain = compute_loss(outputs, targets, gold, config, None)
    weighted = compute_loss(outputs, targets, gold, config, torch.tensor([1.0, 5.0]))
    assert torch.isfinite(plain) and weighted.item() != pytest.approx(plain.item())
    plain.backward()
    assert outputs.grad is not None


def test_config_validation_messages():
    with pytest.raises(ValueError, match="unknown backbone 'gru'; available backbones: ann"):
        ModelConfig(backbone="gru")
    with pytest.raises(ValueError, match="loss must be one of mse, bce, got 'mae'"):
        ModelConfig(loss="mae")
    with pytest.raises(ValueError, match="objective must be one of energy, S, M"):
        ModelConfig(objective="X")
    with pytest.raises(ValueError, match="imbalance must be one of none, pos_weight"):
        ModelConfig(imbalance="smote")
    with pytest.raises(ValueError, match="epochs must be positive, got 0"):
        ModelConfig(epochs=0)
    with pytest.raises(ValueError, match="learning_rate must be positive"):
        ModelConfig(learning_rate=-1.0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        ModelConfig(dropout=1.5)
    with pytest.raises(ValueError, match="unknown option\\(s\\) hidden for backbone 'lstm'"):
        ModelConfig(backbone="lstm", backbone_options={"hidden": 3})
    with pytest.raises(ValueError, match="pooling must be 'mean' or 'cls'"):
        ModelConfig(backbone_options={"pooling": "max"})
    with pytest.raises(ValueError, match="finetune must be 'full', 'lora' or 'frozen'"):
        ModelConfig(backbone_options={"finetune": "some"})
    with pytest.raises(ValueError, match="kernel_sizes must be positive widths"):
        ModelConfig(backbone="textcnn", backbone_options={"kernel_sizes": [3, 0]})
    with pytest.raises(ValueError, match="max_length must be positive"):
        ModelConfig(backbone="cnn", backbone_options={"max_length": 0})
    with pytest.raises(ValueError, match="unknown config key\\(s\\): colour"):
        ModelConfig.from_dict({"colour": "red"})


def test_config_round_trips_through_json_with_complete_options():
    config = ModelConfig(backbone="textcnn", backbone_options={"channels": 8}, epochs=3)
    data = config.to_dict()
    assert data["backbone_options"]["kernel_sizes"] == [3, 4, 5]
    assert ModelConfig.from_dict(data) == config


def test_unfitted_model_says_so():
    from eqn.errors import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet"):
        EQN(backbone="lstm").energies("hello")


def test_warm_start_starts_from_model_1(tiny_dataset):
    config = ModelConfig(backbone="lstm", epochs=1, batch_size=4)
    model_1 = EQN(config).fit(tiny_dataset, progress=False)
    warm = EQN(config).fit(
        tiny_dataset, tiny_dataset, max_steps=0, progress=False, warm_start_from=model_1
    )
    np.testing.assert_array_equal(  # the same weights (only warm is calibrated, on dev)
        warm.energies(tiny_dataset.texts, calibrated=False),
        model_1.energies(tiny_dataset.texts, calibrated=False),
    )
    assert warm.warm_start_


@pytest.mark.parametrize(("objective", "loss"), [("M", "mse"), ("S", "mse"), ("energy", "bce")])
def test_sigmoid_and_softmax_heads_start_at_the_base_rates(tiny_dataset, objective, loss):
    config = ModelConfig(backbone="ann", objective=objective, loss=loss, epochs=1, batch_size=4)
    untrained = EQN(config).fit(tiny_dataset, max_steps=0, progress=False)
    bias = untrained.model_.head[-1].bias.detach().numpy()
    rate = tiny_dataset.gold.mean(axis=0)  # full labels: the gold rates, for BCE too
    expected = np.log(rate) if objective == "S" else np.log(rate / (1 - rate))
    np.testing.assert_allclose(bias, expected, rtol=1e-5)


def test_a_bce_student_starts_at_its_soft_targets_mean_and_mse_keeps_its_bias(tiny_dataset):
    soft = np.full(tiny_dataset.gold.shape, 2.0, dtype=np.float32)  # energy 2 of 10
    config = ModelConfig(backbone="ann", loss="bce", epochs=1, batch_size=4)
    student = EQN(config).fit(tiny_dataset, targets=soft, max_steps=0, progress=False)
    np.testing.assert_allclose(
        student.model_.head[-1].bias.detach().numpy(), np.log(0.25), rtol=1e-5
    )
    mse = EQN(config.replace(loss="mse")).fit(tiny_dataset, max_steps=0, progress=False)
    assert np.abs(mse.model_.head[-1].bias.detach().numpy()).max() < 0.5  # fresh, near 0


def test_targets_must_match_the_training_set(tiny_dataset):
    with pytest.raises(ValueError, match="targets have shape"):
        EQN(backbone="lstm").fit(tiny_dataset, targets=np.zeros((2, 2)), progress=False)


def test_predict_and_annotate_accept_one_string_or_many(tiny_dataset):
    model = EQN(backbone="cnn", epochs=2, batch_size=4).fit(
        tiny_dataset, tiny_dataset, progress=False
    )
    assert len(model.predict("I love it")) == 1
    assert len(model.predict(["I love it", "so scared"], k=2)[1]) == 2
    frame = model.annotate(["I love it", "so scared"], threshold=0.0)
    assert list(frame.columns[:2]) == ["text", tiny_dataset.labels[0]]
    assert {"macro_emotion", "micro_emotions"} <= set(frame.columns)
    assert model.energies([]).shape == (0, tiny_dataset.n_labels)
    assert E.classify_max(model.energies("hello")).sum() == 1
