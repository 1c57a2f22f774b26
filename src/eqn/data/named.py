"""Named datasets (GoEmotions, 6emotions): where they are found, how they are
downloaded and checked, and :func:`load_splits` for a name, a file or a folder."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from eqn.data.annotations import annotation_format, annotation_splits
from eqn.data.readers import SUFFIX_FORMATS, OnEmpty, ReaderOptions, load_files
from eqn.data.table import SPLITS, DatasetSplits
from eqn.errors import InputError
from eqn.io import atomic_directory, eqn_home

logger = logging.getLogger(__name__)

GOEMOTIONS_LABELS = (
    "admiration",
    "amusement",
    "anger",
    "annoyance",
    "approval",
    "caring",
    "confusion",
    "curiosity",
    "desire",
    "disappointment",
    "disapproval",
    "disgust",
    "embarrassment",
    "excitement",
    "fear",
    "gratitude",
    "grief",
    "joy",
    "love",
    "nervousness",
    "optimism",
    "pride",
    "realization",
    "relief",
    "remorse",
    "sadness",
    "surprise",
    "neutral",
)


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset: its files, how to read them and where to download them."""

    name: str
    files: Mapping[str, str]
    options: ReaderOptions
    labels: tuple[str, ...]
    labels_file: str | None = None
    sha256: Mapping[str, str] = field(default_factory=dict)
    url_base: str | None = None
    url_env: str | None = None
    credit: str = ""


DATASETS: dict[str, DatasetSpec] = {
    "goemotions": DatasetSpec(
        name="goemotions",
        files={"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"},
        options=ReaderOptions(
            text_col="text",
            label_col="labels",
            label_sep=",",
            label_format="ids",
            fmt="tsv",
            header=False,
            column_names=("text", "labels", "id"),
            quoting="none",
        ),
        labels=GOEMOTIONS_LABELS,
        labels_file="labels.txt",
        sha256={
            "train.tsv": "1c254a142be5c00e80d819b9ae1bbd36d94b2eeb8f4b1271846508d57e57d9c5",
            "dev.tsv": "575489c079c9de1097062a01738f998590d6b7ead66dd1c9fd1d2ba01fd8bc62",
            "test.tsv": "0587b2dd8b27b97352adbfc3fb083d46005c8946657fdc2b1ca8b1cc7f1f8be4",
        },
        url_base="https://raw.githubusercontent.com/google-research/google-research/master/goemotions/data/",
        url_env="EQN_GOEMOTIONS_URL",
        credit="GoEmotions (Demszky et al., ACL 2020), CC BY 4.0, Google",
    ),
    "6emotions": DatasetSpec(
        name="6emotions",
        files={"train": "train.txt", "dev": "val.txt", "test": "test.txt"},
        options=ReaderOptions(
            text_col="text",
            label_col="label",
            label_sep=None,
            label_format="names",
            fmt="txt",
            sep=";",
            header=False,
            column_names=("text", "label"),
            quoting="none",
        ),
        labels=("sadness", "joy", "love", "anger", "fear", "surprise"),
        credit="CARER 'emotion' dataset (Saravia et al., EMNLP 2018)",
    ),
}


def _holds(directory: Path, spec: DatasetSpec) -> bool:
    return all((directory / filename).is_file() for filename in spec.files.values())


def _candidates(directory: Path, spec: DatasetSpec) -> list[Path]:
    return [directory, directory / spec.name]


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; named datasets: {', '.join(DATASETS)}")
    return DATASETS[name]


def _not_found_message(spec: DatasetSpec, looked: Sequence[Path], reason: str = "") -> str:
    files = ", ".join(spec.files.values())
    message = f"dataset {spec.name!r} was not found"
    if reason:
        message += f" and could not be downloaded ({reason})"
    looked_text = "; ".join(str(p) for p in looked) or "nowhere"
    return (
        f"{message}. Looked in: {looked_text}. Point eqn at a local copy: give its "
        f"folder (data_dir=/path/to/{spec.name}, a folder holding {files}), or set "
        f"EQN_DATA_DIR=/path/to/data (a folder holding {spec.name}/), or put the files in "
        f"{eqn_home() / 'datasets' / spec.name}"
    )


def resolve_dataset_dir(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    base_url: str | None = None,
) -> Path:
    """Find a named dataset: ``data_dir``, then ``$EQN_DATA_DIR``, then the cache, then download."""
    spec = get_spec(name)
    if data_dir is not None:
        for candidate in _candidates(Path(data_dir), spec):
            if _holds(candidate, spec):
                return candidate
        missing = [f for f in spec.files.values() if not (Path(data_dir) / f).is_file()]
        raise InputError(
            f"{data_dir} does not hold dataset {name!r}: missing {', '.join(missing)}. "
            f"Give the folder that holds {', '.join(spec.files.values())}",
            parameter="data_dir",
        )
    looked: list[Path] = []
    env_dir = os.environ.get("EQN_DATA_DIR")
    if env_dir:
        for candidate in _candidates(Path(env_dir), spec):
            looked.append(candidate)
            if _holds(candidate, spec):
                return candidate
    cached = eqn_home() / "datasets" / spec.name
    looked.append(cached)
    if _holds(cached, spec):
        return cached
    base = base_url or (os.environ.get(spec.url_env) if spec.url_env else None) or spec.url_base
    if not download or base is None:
        reason = "" if base is None else "downloads are off"
        raise InputError(_not_found_message(spec, looked, reason), parameter="data_dir")
    return download_dataset(spec, base, cached, looked)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_dataset(
    spec: DatasetSpec, base_url: str, target: Path, looked: Sequence[Path] = ()
) -> Path:
    """Download every file of ``spec`` into ``target``, verified by sha256.

    Files land in a staging folder that is renamed into place only when every
    checksum matches, so a failed or corrupt download leaves no cache entry.
    """
    with atomic_directory(target) as staging:
        for filename in spec.files.values():
            url = base_url.rstrip("/") + "/" + filename
            destination = staging / filename
            logger.info("downloading %s", url)
            try:
                with (
                    urllib.request.urlopen(url, timeout=60) as response,
                    destination.open("wb") as handle,
                ):
                    shutil.copyfileobj(response, handle)
            except (urllib.error.URLError, OSError) as error:
                reason = getattr(error, "reason", error)
                raise InputError(
                    _not_found_message(spec, looked, f"{url}: {reason}"), parameter="data_dir"
                ) from None
            expected = spec.sha256.get(filename)
            actual = _sha256(destination)
            if expected and actual != expected:
                raise InputError(
                    f"sha256 mismatch for {url}: expected {expected}, got {actual}. The file is "
                    "corrupt or truncated and was discarded; try again, or give the data folder of "
                    "a verified local copy"
                )
    logger.info("dataset %s cached in %s", spec.name, target)
    return target


def load_dataset(
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    base_url: str | None = None,
    on_empty: OnEmpty = "error",
) -> DatasetSplits:
    """Load a named dataset (``goemotions`` or ``6emotions``) with its official splits."""
    spec = get_spec(name)
    directory = resolve_dataset_dir(name, data_dir, download=download, base_url=base_url)
    labels: str | os.PathLike[str] | Sequence[str] = spec.labels
    if spec.labels_file and (directory / spec.labels_file).is_file():
        labels = directory / spec.labels_file
    files = {split: directory / filename for split, filename in spec.files.items()}
    splits = load_files(
        files["train"],
        files["dev"],
        files["test"],
        options=spec.options,
        labels=labels,
        on_empty=on_empty,
        name=spec.name,
    )
    info = {**splits.split_info, "dataset": spec.name, "directory": str(directory)}
    return replace(splits, split_info=info)


def load_splits(
    dataset: str,
    data_dir: str | os.PathLike[str] | None = None,
    options: ReaderOptions | None = None,
    labels: str | os.PathLike[str] | Sequence[str] | None = None,
    on_empty: OnEmpty = "error",
    seed: int = 0,
) -> DatasetSplits:
    """Load a named dataset, or a file (split seeded and stratified) or folder of split files."""
    if dataset in DATASETS:
        return load_dataset(dataset, data_dir=data_dir, on_empty=on_empty)
    path = Path(dataset)
    if path.is_dir():
        found = {s: _find_split_file(path, s) for s in SPLITS}
        if found["train"] is None:
            raise InputError(
                f"{path} holds no train file; expected train.csv/.tsv/.jsonl/.parquet "
                "(and optionally dev and test files beside it)"
            )
        return load_files(
            found["train"],
            found["dev"],
            found["test"],
            options=options,
            labels=labels,
            on_empty=on_empty,
            seed=seed,
            name=path.name,
        )
    sep, encoding = (options.sep, options.encoding) if options is not None else (None, "utf-8")
    if annotation_format(path, sep, encoding) is not None:
        return annotation_splits(path, labels, seed, options)
    if path.is_file():
        return load_files(path, options=options, labels=labels, on_empty=on_empty, seed=seed)
    raise InputError(
        f"{dataset!r} is neither a named dataset ({', '.join(DATASETS)}) nor an existing "
        "file or folder"
    )


_SPLIT_ALIASES = {
    "train": ("train",),
    "dev": ("dev", "val", "valid", "validation"),
    "test": ("test",),
}


def _find_split_file(directory: Path, split: str) -> Path | None:
    suffixes = tuple(SUFFIX_FORMATS)
    for stem in _SPLIT_ALIASES[split]:
        for suffix in suffixes:
            candidate = directory / f"{stem}{suffix}"
            if candidate.is_file():
                return candidate
    return None
