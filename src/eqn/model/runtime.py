"""Loading a trained model for inference: one entry point, one default, for every
command (annotate, serve, evaluate, compare, the Ray engine) and ``eqn.load``.

``runtime`` is ``torch``, ``onnx`` (ONNX Runtime, fp32) or ``onnx-int8``;
``auto`` (the default) picks ``onnx-int8`` for transformer models on the CPU: about
twice torch's speed, starts without importing torch, and a text's energies are its
own whatever its batch (activations are quantized per token, ``eqn/model/int8.py``);
on GoEmotions dev it loses 0.2 points of macro F1 against fp32, and single energies
move by up to 1.1 (benchmarks/README.md, "Runtimes"). ``onnx`` gives the model's
own energies (within 0.002) at fp32 speed. A GPU, and the other backbones, use
``torch``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from eqn.errors import ConfigError
from eqn.model.config import check_precision
from eqn.model.inference import InferenceModel, default_model_dir, model_folder, read_summary

RUNTIMES = ("auto", "torch", "onnx", "onnx-int8")
DEFAULT_RUNTIME = "auto"
AUTO_CPU_RUNTIME = "onnx-int8"


def _may_have_gpu(device: str) -> bool:
    """Whether ``device`` could mean a GPU, without importing torch where it cannot."""
    kind = device.split(":")[0]
    if kind in ("cuda", "mps"):
        return True
    return kind == "auto" and _gpu_visible()


def _gpu_visible() -> bool:
    if sys.platform == "darwin":
        return True  # MPS: torch decides
    return os.path.exists("/dev/nvidiactl") or bool(os.environ.get("CUDA_VISIBLE_DEVICES"))


def resolve_runtime(runtime: str, device: str, backbone: str) -> str:
    """The runtime that ``runtime`` means for this device and backbone."""
    if runtime not in RUNTIMES:
        raise ConfigError(
            f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}",
            parameter="runtime",
        )
    if runtime == "auto":
        if backbone != "transformer" or _may_have_gpu(device):
            return "torch"
        return AUTO_CPU_RUNTIME
    if runtime != "torch" and device.split(":")[0] not in ("auto", "cpu"):
        raise ConfigError(
            f"runtime {runtime!r} runs on the CPU; use device 'cpu', or runtime 'torch' for "
            f"device {device!r}",
            parameter="runtime",
        )
    return runtime


def load_model(
    path: str | os.PathLike[str] | None = None,
    device: str = "auto",
    runtime: str = DEFAULT_RUNTIME,
    threads: int | None = None,
    precision: str = "fp32",
) -> InferenceModel:
    """A saved model ready to annotate; with no path, the shipped GoEmotions model.

    ``threads``: CPU threads of an ONNX session (default: all cores).
    ``precision``: fp32, or fp16/bf16 (torch only, meant for GPUs).

    >>> model = load_model(runtime="onnx-int8")          # doctest: +SKIP
    >>> model.annotate("What a lovely surprise!")       # doctest: +SKIP
    """
    source = model_folder(Path(path)) if path is not None else default_model_dir()
    if runtime not in ("torch",):
        # Which backbone it is decides what auto means; read it without torch.
        summary = read_summary(source)
        backbone = str(summary.get("config", {}).get("backbone", "transformer"))
    else:
        backbone = "transformer"
    chosen = resolve_runtime(runtime, device, backbone)
    if check_precision(precision) != "fp32" and runtime == "auto":
        chosen = "torch"  # half precision is torch's
    if chosen == "torch":
        from eqn.model.estimator import EQN

        return EQN.load(source, device=device).with_precision(precision)
    if precision != "fp32":
        raise ConfigError(
            f"precision {precision!r} runs with runtime 'torch' (runtime {chosen!r} is fp32 "
            "or int8)",
            parameter="precision",
        )
    from eqn.model.onnx import OnnxModel

    return OnnxModel.load(source, runtime=chosen, threads=threads)


# ``eqn.load``: the same entry point.
load = load_model
