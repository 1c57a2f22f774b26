import pytest
import torch

from eqn.errors import ConfigError
from eqn.model.device import resolve_device


def test_cpu_and_auto_resolve_here():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = (
        "cuda"
        if torch.cuda.is_available()
        else "mps"
        if torch.backends.mps.is_available()
        else "cpu"
    )
    assert resolve_device("auto").type == expected


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ConfigError, match="device 'cuda' was asked for, but torch .* sees no CUDA"):
        resolve_device("cuda")


def test_unknown_devices_are_named():
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_a_model_moves_and_gives_the_same_energies(tiny_model_dir):
    from eqn.model.estimator import EQN

    model = EQN.load(tiny_model_dir, device="cpu")
    before = model.energies(["I love it"])
    assert (model.to("auto").to("cpu").energies(["I love it"]) == before).all()
