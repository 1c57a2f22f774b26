"""Engines: who annotates a file's chunks.

An :class:`Engine` maps a file's chunks to ``(chunk, annotated, summary)`` in input
order, while :func:`eqn.annotation.files.annotate_file` reads, resumes and writes:
:class:`LocalEngine` (this process, the default) and
:class:`eqn.annotation.ray_engine.RayEngine` (Ray actors). A :class:`FileEngine`
reads and writes whole files by itself (for engines whose workers write, so no row
passes through this process).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pandas as pd

from eqn.annotation.options import AnnotateOptions
from eqn.annotation.texts import AnnotationSummary, annotate_texts
from eqn.data.chunks import RECORDS
from eqn.data.formats import MISSING, missing_column_error

if TYPE_CHECKING:
    from eqn.model.inference import InferenceModel

AnnotatedChunk = tuple[pd.DataFrame, pd.DataFrame, AnnotationSummary]


@runtime_checkable
class Engine(Protocol):
    """Annotates chunks; reading and writing stay with ``annotate_file``."""

    def map(
        self, chunks: Iterable[pd.DataFrame], source: Path, options: AnnotateOptions
    ) -> Iterator[AnnotatedChunk]:
        """``(chunk, annotated, summary)`` per chunk, in input order."""
        ...

    def close(self) -> None:
        """Release workers."""
        ...


@runtime_checkable
class FileEngine(Protocol):
    """Reads, annotates and writes a whole file by itself."""

    def annotate_file(
        self, source: Path, target: Path, options: AnnotateOptions
    ) -> AnnotationSummary:
        """Annotate ``source`` into ``target`` with ``options`` (threshold resolved)."""
        ...

    def close(self) -> None:
        """Release workers."""
        ...


def annotate_chunk(
    model: InferenceModel, chunk: pd.DataFrame, source: Path, options: AnnotateOptions
) -> tuple[pd.DataFrame, AnnotationSummary]:
    """The chunk's own columns, then the annotation's (renamed ``eqn_*`` on a clash)."""
    if options.text_col in chunk.columns:
        texts = chunk[options.text_col].tolist()
    elif chunk.attrs.get(RECORDS):
        # JSONL records without the key (the file's first records were checked to have
        # it): missing texts, flagged empty, whatever the chunk boundaries.
        texts = [MISSING] * len(chunk)
    else:
        raise missing_column_error(options.text_col, chunk.columns, source, "text_col")
    batch = annotate_texts(
        model,
        texts,
        options.threshold,
        options.raw,
        options.batch_size,
        calibrated=options.calibrated,
    )
    annotated = chunk.reset_index(drop=True)
    extra = batch.frame().drop(columns=["text"])
    clashes = [c for c in extra.columns if c in annotated.columns]
    if clashes:
        extra = extra.rename(columns={c: f"eqn_{c}" for c in clashes})
    return pd.concat([annotated, extra], axis=1), AnnotationSummary.of(batch)


class LocalEngine:
    """Annotates chunks in this process, one after another (the default engine)."""

    def __init__(self, model: InferenceModel) -> None:
        self.model = model

    def map(
        self, chunks: Iterable[pd.DataFrame], source: Path, options: AnnotateOptions
    ) -> Iterator[AnnotatedChunk]:
        for chunk in chunks:
            yield (chunk, *annotate_chunk(self.model, chunk, source, options))

    def close(self) -> None:
        """Nothing to release here."""
