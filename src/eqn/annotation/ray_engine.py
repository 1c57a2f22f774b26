"""Annotation on a Ray cluster (the CLI's engine "ray"): the same files, on Ray actors.

The driver reads each input in chunks and writes its output exactly as the local
engine does (same readers, same columns and row order, same resume); the chunks
are annotated by a pool of Ray actors, one model per actor, a few chunks in
flight per actor. Actors take a GPU each when the cluster has GPUs and the
runtime is torch. Needs the ``ray`` extra: ``pip install 'eqn[ray]'``.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from eqn.annotation.engines import AnnotatedChunk, annotate_chunk
from eqn.annotation.options import AnnotateOptions
from eqn.annotation.ray_data import ModelLoader, SavedModel, join_cluster
from eqn.annotation.texts import AnnotationSummary

logger = logging.getLogger(__name__)


class _ChunkWorker:
    """One Ray actor: loads the model once, then annotates chunks."""

    def __init__(self, loader: ModelLoader) -> None:
        self.model = loader.load()

    def annotate(
        self, chunk: pd.DataFrame, source: str, options: AnnotateOptions
    ) -> tuple[pd.DataFrame, AnnotationSummary]:
        return annotate_chunk(self.model, chunk, Path(source), options)


class RayEngine:
    """Maps a file's chunks over a pool of Ray actors, results in input order.

    ``address``: a running cluster (``ray start --head``, KubeRay), or None to
    use ``RAY_ADDRESS`` or start a local one. ``actors``: the pool size (default:
    one per CPU of the cluster, or one per GPU when actors use GPUs). ``loader``:
    what each actor loads instead of ``model_path`` (an
    :class:`eqn.annotation.ray_data.ModelLoader`).
    """

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None,
        runtime: str,
        device: str = "auto",
        address: str | None = None,
        actors: int | None = None,
        in_flight: int = 2,
        num_cpus: int | None = None,
        precision: str = "fp32",
        loader: ModelLoader | None = None,
    ) -> None:
        ray, self._started = join_cluster("the Ray engine", address, num_cpus, actors)
        self._ray = ray
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        use_gpu = runtime == "torch" and gpus > 0 and device.split(":")[0] in ("auto", "cuda")
        cpus = max(1, int(resources.get("CPU", 1)))
        size = actors or (gpus if use_gpu else cpus)
        threads = None if use_gpu else max(1, cpus // size)
        worker = ray.remote(num_cpus=0 if use_gpu else threads, num_gpus=1 if use_gpu else 0)(
            _ChunkWorker
        )
        path = None if model_path is None else str(Path(model_path).resolve())
        actor_device = "cuda" if use_gpu else "cpu"
        loader = loader or SavedModel(path, runtime, actor_device, threads, precision)
        self.actors = [worker.remote(loader) for _ in range(size)]
        self.in_flight = max(1, in_flight) * size
        logger.info(
            "Ray engine: %d actors (%s, %s runtime) on %s",
            size,
            "one GPU each" if use_gpu else f"{threads} CPU threads each",
            runtime,
            address or "a local cluster",
        )

    def map(
        self, chunks: Iterable[pd.DataFrame], source: Path, options: AnnotateOptions
    ) -> Iterator[AnnotatedChunk]:
        ray = self._ray
        pending: deque[tuple[pd.DataFrame, Any]] = deque()
        submitted = 0
        iterator = iter(chunks)
        exhausted = False
        while True:
            while not exhausted and len(pending) < self.in_flight:
                try:
                    chunk = next(iterator)
                except StopIteration:
                    exhausted = True
                    break
                actor = self.actors[submitted % len(self.actors)]
                pending.append((chunk, actor.annotate.remote(chunk, str(source), options)))
                submitted += 1
            if not pending:
                return
            chunk, ref = pending.popleft()
            try:
                annotated, summary = ray.get(ref)
            except ray.exceptions.RayTaskError as error:
                for _, other in pending:
                    ray.cancel(other)
                raise error.as_instanceof_cause() from None
            yield chunk, annotated, summary

    def close(self) -> None:
        """Stop the actors, and the local cluster if this engine started it."""
        for actor in self.actors:
            self._ray.kill(actor)
        self.actors = []
        if self._started:
            self._ray.shutdown()
