"""``cnn``: word embeddings, one convolution, global max pooling (paper section 4.2).

It is a ``textcnn`` with a single kernel width, so it reuses that backbone; only
its options keep the paper's names and defaults.
"""

from __future__ import annotations

from eqn.backbones.options import CNNOptions
from eqn.backbones.registry import register
from eqn.backbones.textcnn import TextCNNBackbone


@register
class CNNBackbone(TextCNNBackbone):
    """The paper's CNN: 15,000 words, 32 channels, a width-7 filter, ReLU."""

    name = "cnn"
    Options = CNNOptions
