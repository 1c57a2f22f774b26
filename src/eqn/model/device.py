"""Where a model runs: ``auto``, ``cpu``, ``cuda`` (optionally ``cuda:N``) or ``mps``,
and in which precision its forward pass computes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from eqn.errors import ConfigError
from eqn.model.config import check_precision

DEVICES = ("auto", "cpu", "cuda", "mps")
_HALF = {"fp16": torch.float16, "bf16": torch.bfloat16}


@contextlib.contextmanager
def computing_in(precision: str, device: torch.device) -> Iterator[None]:
    """The forward pass in ``precision``: fp32 as it is, fp16/bf16 under autocast."""
    if check_precision(precision) == "fp32":
        yield
        return
    with torch.autocast(device_type=device.type, dtype=_HALF[precision]):
        yield


def resolve_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``; ``auto`` takes a GPU when there is one.

    Asking for a GPU that torch cannot see is an error, never a silent fallback.
    """
    kind = name.split(":")[0]
    if kind not in DEVICES:
        raise ConfigError(
            f"unknown device {name!r}; choose one of {', '.join(DEVICES)}", parameter="device"
        )
    if kind == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device {name!r} was asked for, but torch {torch.__version__} sees no CUDA GPU "
            "(a CPU build, or no driver); use device 'cpu' or 'auto', or install a CUDA build "
            "of torch",
            parameter="device",
        )
    if kind == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            f"device {name!r} was asked for, but this machine has no Apple MPS device; use "
            "device 'cpu' or 'auto'",
            parameter="device",
        )
    return torch.device(name)


def device_of(module: torch.nn.Module) -> torch.device:
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    if device.type == "cpu":
        return batch
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}
