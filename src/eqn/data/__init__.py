"""Data: the in-memory dataset, readers for every file format, splits and named datasets.

Every dataset becomes a :class:`Dataset`: texts, label names and a multi-hot gold
matrix. :func:`load_splits` takes a named dataset, a file or a folder of splits.
"""

from eqn.data.named import (
    DATASETS,
    GOEMOTIONS_LABELS,
    DatasetSpec,
    eqn_home,
    get_spec,
    load_dataset,
    load_splits,
    resolve_dataset_dir,
)
from eqn.data.readers import ReaderOptions, load_files, read_label_names, read_table
from eqn.data.splits import fold_assignment, stratified_split
from eqn.data.table import SPLITS, Dataset, DatasetSplits, ReadReport, check_label_names
from eqn.errors import DataError, InputError

__all__ = [
    "DATASETS",
    "GOEMOTIONS_LABELS",
    "SPLITS",
    "DataError",
    "Dataset",
    "DatasetSpec",
    "DatasetSplits",
    "InputError",
    "ReadReport",
    "ReaderOptions",
    "check_label_names",
    "eqn_home",
    "fold_assignment",
    "get_spec",
    "load_dataset",
    "load_files",
    "load_splits",
    "read_label_names",
    "read_table",
    "resolve_dataset_dir",
    "stratified_split",
]
