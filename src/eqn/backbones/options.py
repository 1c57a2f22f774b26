"""What each built-in backbone accepts: frozen, validated option dataclasses.

They live apart from the backbones, which import torch, so that a saved model's
configuration can be read (by the ONNX runtime, or ``eqn --help``) without torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from eqn.errors import ConfigError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"


def check_positive(**values: Any) -> None:
    for key, value in values.items():
        if not (isinstance(value, (int, float)) and value > 0):
            raise ConfigError(f"{key} must be positive, got {value!r}")


@dataclass(frozen=True)
class ANNOptions:
    max_features: int = 15000
    hidden_sizes: tuple[int, ...] = (512, 256)
    ngram_max: int = 2

    def __post_init__(self) -> None:
        check_positive(max_features=self.max_features, ngram_max=self.ngram_max)
        if not self.hidden_sizes or any(h <= 0 for h in self.hidden_sizes):
            raise ConfigError(f"hidden_sizes must be positive, got {self.hidden_sizes!r}")


@dataclass(frozen=True)
class CNNOptions:
    max_features: int = 15000
    embedding_dim: int = 128
    channels: int = 32
    kernel_size: int = 7
    max_length: int = 150

    def __post_init__(self) -> None:
        check_positive(
            max_features=self.max_features,
            embedding_dim=self.embedding_dim,
            channels=self.channels,
            kernel_size=self.kernel_size,
            max_length=self.max_length,
        )

    @property
    def kernel_sizes(self) -> tuple[int, ...]:
        return (self.kernel_size,)


@dataclass(frozen=True)
class LSTMOptions:
    max_features: int = 15000
    embedding_dim: int = 150
    hidden_size: int = 128
    max_length: int = 150

    def __post_init__(self) -> None:
        check_positive(
            max_features=self.max_features,
            embedding_dim=self.embedding_dim,
            hidden_size=self.hidden_size,
            max_length=self.max_length,
        )


@dataclass(frozen=True)
class TextCNNOptions:
    max_features: int = 15000
    embedding_dim: int = 128
    channels: int = 256
    kernel_sizes: tuple[int, ...] = (3, 4, 5)
    max_length: int = 150

    def __post_init__(self) -> None:
        check_positive(
            max_features=self.max_features,
            embedding_dim=self.embedding_dim,
            channels=self.channels,
            max_length=self.max_length,
        )
        if not self.kernel_sizes or any(k <= 0 for k in self.kernel_sizes):
            raise ConfigError(f"kernel_sizes must be positive widths, got {self.kernel_sizes!r}")


@dataclass(frozen=True)
class TransformerOptions:
    model_name_or_path: str = DEFAULT_ENCODER
    pooling: Literal["mean", "cls"] = "mean"
    max_length: int = 150
    # LoRA by default: it matched or beat full fine-tuning here, and suits small data.
    finetune: Literal["full", "lora", "frozen"] = "lora"
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_target_modules: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_positive(max_length=self.max_length, lora_r=self.lora_r, lora_alpha=self.lora_alpha)
        if self.pooling not in ("mean", "cls"):
            raise ConfigError(f"pooling must be 'mean' or 'cls', got {self.pooling!r}")
        if self.finetune not in ("full", "lora", "frozen"):
            raise ConfigError(f"finetune must be 'full', 'lora' or 'frozen', got {self.finetune!r}")


# backbone name -> its options class
BUILTIN_OPTIONS: dict[str, type] = {
    "ann": ANNOptions,
    "cnn": CNNOptions,
    "lstm": LSTMOptions,
    "textcnn": TextCNNOptions,
    "transformer": TransformerOptions,
}
