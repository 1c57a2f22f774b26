"""eqn: micro-emotion annotation with energy scores (the EQN framework)."""

from __future__ import annotations

from eqn.data import Dataset, DatasetSplits, ReaderOptions, load_dataset, read_table

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "DatasetSplits",
    "ReaderOptions",
    "__version__",
    "load_dataset",
    "read_table",
]
