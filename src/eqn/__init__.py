"""eqn: micro-emotion annotation with energy scores (the EQN framework).

>>> import eqn
>>> model = eqn.load()                      # the shipped GoEmotions EQN model, offline
>>> model.annotate("Thanks, this made my day!")        # a pandas DataFrame
>>> model.energies(["I am scared", "so proud of you"])  # ndarray (n, 28)
>>> model.predict("What a mess.", k=2)                 # label lists
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from eqn.data import Dataset, DatasetSplits, ReaderOptions, load_dataset, read_table
from eqn.errors import ConfigError, EqnError, InputError, ModelError

__version__ = "0.3.0"

from eqn.lazy import lazy_attributes

if TYPE_CHECKING:
    from eqn.model.config import ModelConfig
    from eqn.model.estimator import EQN
    from eqn.model.explain import explain
    from eqn.model.runtime import load_model as load

_LAZY = {
    "EQN": "eqn.model.estimator",
    "ModelConfig": "eqn.model.config",
    "load": "eqn.model.runtime",
    "explain": "eqn.model.explain",
}


__getattr__ = lazy_attributes("eqn", _LAZY)

__all__ = [
    "EQN",
    "ConfigError",
    "EqnError",
    "InputError",
    "ModelError",
    "Dataset",
    "DatasetSplits",
    "ModelConfig",
    "ReaderOptions",
    "__version__",
    "explain",
    "load",
    "load_dataset",
    "read_table",
]
