"""The ONNX Runtime: a saved transformer model exported to one ONNX graph (encoder
with LoRA merged, pooling, head and the output activation), fp32 or int8.

Exporting needs torch, once per model: the graph is cached in the user's cache
folder, keyed by the model's hash, written atomically under a file lock so that
two processes exporting at once do not clash. Loading a cached graph and
annotating with it imports neither torch nor transformers.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eqn.errors import ConfigError, ModelError
from eqn.io import eqn_home
from eqn.logs import progress_bar
from eqn.model.config import ModelConfig
from eqn.model.inference import (
    InferenceModel,
    length_sorted_batches,
    model_folder,
    read_summary,
)

logger = logging.getLogger(__name__)

ONNX_RUNTIMES = ("onnx", "onnx-int8")
# Bump when the exported graph (EXPORT_VERSION) or the int8 recipe (INT8_RECIPE)
# changes: old cache entries are then ignored.
EXPORT_VERSION = "r3"
INT8_RECIPE = "q3"
OPSET = 17
ENCODER_DIR = "encoder"


def export_path(model_hash: str, runtime: str) -> Path:
    name = f"model.int8-{INT8_RECIPE}.onnx" if runtime == "onnx-int8" else "model.onnx"
    return eqn_home() / "onnx" / f"{model_hash}-{EXPORT_VERSION}" / name


def _check_exportable(config: ModelConfig, source: Path) -> None:
    if config.backbone != "transformer":
        raise ConfigError(
            f"the ONNX runtimes run transformer models; {source} has a {config.backbone!r} "
            "backbone: use the torch runtime",
            parameter="runtime",
        )
    if not (source / ENCODER_DIR / "tokenizer.json").is_file():
        raise ModelError(
            f"{source / ENCODER_DIR} has no tokenizer.json (a fast tokenizer), which the ONNX "
            "runtimes need; use the torch runtime"
        )


# -- export (torch) ---------------------------------------------------------------------
def export_onnx(source: Path, target: Path) -> None:
    """Export the saved model at ``source`` to one fp32 ONNX graph at ``target``:
    ``input_ids``, ``attention_mask`` -> ``energies`` (before clipping and calibration)."""
    import copy

    import torch

    from eqn.model.estimator import EQN

    network = copy.deepcopy(EQN.load(source, device="cpu")._fitted()).eval()
    backbone = network.backbone
    if hasattr(backbone.encoder, "merge_and_unload"):
        # LoRA adapters folded into the weights: one plain encoder, no adapter ops.
        backbone.encoder = backbone.encoder.merge_and_unload()
    if hasattr(backbone.encoder, "set_attn_implementation"):
        # Plain attention ops, which ONNX Runtime fuses; the SDPA path exports extra
        # masking ops (IsNaN, Where) that block the fusion.
        backbone.encoder.set_attn_implementation("eager")

    class Energies(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.network = network

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            outputs = self.network(input_ids=input_ids, attention_mask=attention_mask)
            return self.network.to_energies(outputs)

    example = backbone.collate(backbone.encode(["an example to trace the graph", "hi"]))
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shapes fixed at export
        torch.onnx.export(
            Energies().eval(),
            (example["input_ids"], example["attention_mask"]),
            str(target),
            input_names=["input_ids", "attention_mask"],
            output_names=["energies"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "energies": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )


def ensure_export(source: Path, model_hash: str, runtime: str) -> Path:
    """The cached graph for ``runtime``, exporting it first if needed."""
    from filelock import FileLock

    target = export_path(model_hash, runtime)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / ".lock")):
        if target.is_file():  # another process finished it while we waited
            return target
        fp32 = export_path(model_hash, "onnx")
        if not fp32.is_file():
            logger.info("exporting %s to ONNX (once; cached in %s)", source, fp32.parent)
            _write_atomically(fp32, lambda path: export_onnx(source, path))
        if runtime == "onnx-int8":
            logger.info("quantizing the ONNX export to int8 (once)")
            from eqn.model.int8 import quantize_int8

            _write_atomically(target, lambda path: quantize_int8(fp32, path))
    return target


def _write_atomically(target: Path, write: Any) -> None:
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=".partial-", suffix=".onnx")
    os.close(handle)
    partial = Path(name)
    try:
        write(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


# -- inference (no torch) ---------------------------------------------------------------
def _pad_id(folder: Path, tokenizer: Any) -> int:
    """The encoder's padding id (some encoders derive positions from it), as saved."""
    import json

    try:
        token = json.loads((folder / "tokenizer_config.json").read_text("utf-8")).get("pad_token")
    except (OSError, ValueError):
        token = None
    if isinstance(token, dict):
        token = token.get("content")
    found = tokenizer.token_to_id(token) if isinstance(token, str) else None
    return found if found is not None else (tokenizer.token_to_id("[PAD]") or 0)


class OnnxModel(InferenceModel):
    """A saved transformer model run by ONNX Runtime on the CPU; same API as ``EQN``
    for inference (energies, predict, annotate), loaded with :meth:`load`."""

    def __init__(self, config: ModelConfig, runtime: str = "onnx") -> None:
        self.config = config
        self.runtime = runtime

    @classmethod
    def load(
        cls, directory: str | os.PathLike[str], runtime: str = "onnx", threads: int | None = None
    ) -> OnnxModel:
        if runtime not in ONNX_RUNTIMES:
            raise ConfigError(
                f"unknown ONNX runtime {runtime!r}; choose {' or '.join(ONNX_RUNTIMES)}",
                parameter="runtime",
            )
        source = model_folder(Path(directory))
        summary = read_summary(source)
        try:
            config = ModelConfig.from_dict(summary["config"])
        except (KeyError, TypeError, ValueError, ConfigError) as error:
            raise ModelError(f"{source} has no valid eqn model config: {error}") from None
        _check_exportable(config, source)
        model = cls(config, runtime)
        model._read_saved_state(source, summary)
        graph = ensure_export(source, model.model_hash, runtime)
        model._start(source, graph, threads)
        return model

    def _start(self, source: Path, graph: Path, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        path = source / ENCODER_DIR / "tokenizer.json"
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:  # tokenizers raises its own types for bad files
            raise ModelError(
                f"{path} cannot be read ({str(error)[:200]}): it is damaged; restore the model "
                "folder, or save the model again"
            ) from None
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=self.config.backbone_options.max_length)
        self.tokenizer_ = tokenizer
        self.pad_id_ = _pad_id(source / ENCODER_DIR, tokenizer)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session_ = ort.InferenceSession(
                str(graph), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own types for bad files
            raise ModelError(
                f"the cached ONNX graph {graph} cannot be loaded ({error}); delete it and it "
                "will be exported again"
            ) from None
        self.graph_ = graph

    def _check_fitted(self) -> None:
        if not hasattr(self, "session_"):
            raise ModelError("this ONNX model is not loaded: use OnnxModel.load(folder)")

    def encode(self, texts: Sequence[str]) -> tuple[list[Any], list[int]]:
        self._check_fitted()
        items = [encoding.ids for encoding in self.tokenizer_.encode_batch(list(texts))]
        return items, [len(item) for item in items]

    def _unclipped_energies(
        self, items: Sequence[Any], lengths: Sequence[int], batch_size: int, progress: bool
    ) -> np.ndarray:
        result = np.zeros((len(items), len(self.labels_)), dtype=np.float32)
        batches = length_sorted_batches(lengths, batch_size)
        reporter = progress_bar(total=len(batches), desc="scoring", unit="batch", enabled=progress)
        with reporter as bar:
            for chunk in batches:
                width = max(lengths[i] for i in chunk)
                input_ids = np.full((len(chunk), width), self.pad_id_, dtype=np.int64)
                attention_mask = np.zeros((len(chunk), width), dtype=np.int64)
                for row, i in enumerate(chunk):
                    input_ids[row, : lengths[i]] = items[i]
                    attention_mask[row, : lengths[i]] = 1
                feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
                result[chunk] = self.session_.run(["energies"], feeds)[0]
                bar.update(1)
        return result
