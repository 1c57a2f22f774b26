"""``cnn``: word embeddings, one convolution, global max pooling (paper section 4.2).

It is a ``textcnn`` with a single kernel width, so it reuses that backbone; only
its options keep the paper's names and defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from eqn.backbones.base import check_positive
from eqn.backbones.registry import register
from eqn.backbones.textcnn import TextCNNBackbone


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


@register
class CNNBackbone(TextCNNBackbone):
    """The paper's CNN: 15,000 words, 32 channels, a width-7 filter, ReLU."""

    name = "cnn"
    Options = CNNOptions
