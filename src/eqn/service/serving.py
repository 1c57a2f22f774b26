"""What the service runs: its limits, the model being served and its micro-batcher,
swapped as one so that every answer names the version that gave it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from eqn.errors import ConfigError
from eqn.model.inference import InferenceModel
from eqn.model.scoring import ScoredTexts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceLimits:
    """Request limits and batching settings, validated once."""

    max_texts: int = 64
    max_text_chars: int = 5000
    # A micro-batch takes whatever is waiting, up to max_batch texts, and scores it in
    # length-sorted sub-batches of inference_batch, so little compute goes to padding.
    max_batch: int = 256
    inference_batch: int = 32
    max_wait_ms: float = 5.0
    max_upload_bytes: int = 10 * 1024 * 1024
    max_upload_rows: int = 10_000
    # File jobs run one at a time beside the text requests; this many may wait (429 above).
    max_queued_uploads: int = 4
    # Explanations (seconds each) run in a thread of their own; this many may wait.
    max_queued_explanations: int = 2
    # Label Studio's /predict and /train: tasks or an export, in one body.
    max_tasks_bytes: int = 64 * 1024 * 1024

    def __post_init__(self) -> None:
        names = (
            "max_texts",
            "max_text_chars",
            "max_batch",
            "inference_batch",
            "max_upload_bytes",
            "max_upload_rows",
            "max_queued_uploads",
            "max_queued_explanations",
            "max_tasks_bytes",
        )
        for name in names:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")

    @property
    def max_json_bytes(self) -> int:
        """The largest JSON body a text request can need: every text at its longest, each
        character escaped (``\\uXXXX``), and room for the rest of the request."""
        return self.max_texts * self.max_text_chars * 6 + 64 * 1024

    def body_limits(self) -> dict[str, int]:
        """Byte limits per POST route, checked before a body is read."""
        return {
            "/v1/annotate": self.max_json_bytes,
            "/v1/explain": self.max_text_chars * 6 + 64 * 1024,
            "/v1/annotate/csv": self.max_upload_bytes + 64 * 1024,  # the multipart framing
            # Label Studio's ML backend protocol: tasks (any number) and exports
            "/setup": 4 * 1024 * 1024,
            "/predict": self.max_tasks_bytes,
            "/train": self.max_tasks_bytes,
            "/webhook": 4 * 1024 * 1024,
        }


class ServiceError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


_Waiting = tuple[list[str], "asyncio.Future[ScoredTexts]"]


class MicroBatcher:
    """Collects texts from concurrent requests and scores them together."""

    def __init__(self, model: InferenceModel, limits: ServiceLimits) -> None:
        self.model = model
        self.limits = limits
        # None in the queue is the end: what came before it is still scored.
        self.queue: asyncio.Queue[_Waiting | None] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
        self.retired = False
        self.batches = 0
        # Text requests have a thread of their own, so file jobs never hold them up.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="eqn-texts")

    def start(self) -> None:
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def retire(self) -> None:
        """Finish what is queued, then stop; later requests to it are scored alone.

        The check of ``retired`` and the put in :meth:`score` do not yield to the event
        loop (the queue is unbounded), so every request lands before the end or sees it.
        """
        self.retired = True
        await self.queue.put(None)
        if self.task is not None:
            await self.task

    async def score(self, texts: list[str]) -> ScoredTexts:
        loop = asyncio.get_running_loop()
        if self.retired:  # a request that began before a swap: no batch mates are coming
            return await loop.run_in_executor(self.executor, self._score, texts)
        future: asyncio.Future[ScoredTexts] = loop.create_future()
        await self.queue.put((texts, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        ended = False
        while not ended:
            first = await self.queue.get()
            if first is None:
                return
            pending = [first]
            size = len(first[0])
            deadline = loop.time() + self.limits.max_wait_ms / 1000
            while size < self.limits.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self.queue.get(), timeout)
                except asyncio.TimeoutError:
                    break
                if item is None:
                    ended = True
                    break
                pending.append(item)
                size += len(item[0])
            await self._answer(pending)

    async def _answer(self, pending: list[_Waiting]) -> None:
        loop = asyncio.get_running_loop()
        texts = [text for batch, _ in pending for text in batch]
        try:
            scored = await loop.run_in_executor(self.executor, self._score, texts)
        except Exception:  # score each request alone, so one cannot fail the others
            for batch, future in pending:
                try:
                    alone = await loop.run_in_executor(self.executor, self._score, batch)
                except Exception as error:
                    if not future.done():
                        future.set_exception(error)
                else:
                    if not future.done():
                        future.set_result(alone)
            return
        self.batches += 1
        offset = 0
        for batch, future in pending:
            if not future.done():
                future.set_result(scored.rows(offset, offset + len(batch)))
            offset += len(batch)

    def _score(self, texts: list[str]) -> ScoredTexts:
        # Uncalibrated here, so requests that ask for either can share a batch.
        return self.model.score(texts, self.limits.inference_batch, calibrated=False)


class JobQueue:
    """Long jobs of one kind (file uploads, explanations), one at a time in a thread of
    their own, so text requests never wait behind them; a full queue answers 429."""

    def __init__(self, what: str, size: int) -> None:
        self.what = what
        self.size = size
        self.waiting = 0
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"eqn-{what.replace(' ', '-')}")

    def start(self, function: Any, *args: Any) -> None:
        """Run ``function`` in this queue's thread without waiting for it (a warm-up): jobs
        queued later run after it. A failure is logged; the jobs report their own."""

        def warm_up() -> None:
            try:
                function(*args)
            except Exception as error:  # the first real job will meet and report it
                logger.warning("%s: warm-up failed: %s", self.what, error)

        self.executor.submit(warm_up)

    async def run(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        if self.waiting >= self.size:
            raise ServiceError(
                429,
                f"{self.waiting} {self.what} are already queued; retry shortly",
                limit=self.size,
            )
        self.waiting += 1
        try:
            call = functools.partial(function, *args, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(self.executor, call)
        finally:
            self.waiting -= 1


@dataclass(frozen=True)
class Serving:
    """One model and the batcher that scores for it: replaced together, never half."""

    model: InferenceModel
    batcher: MicroBatcher

    @property
    def version(self) -> str:
        return self.model.model_hash


class ModelHolder:
    """The model the service answers with. :meth:`swap` replaces it atomically: a
    request holds the :class:`Serving` it started with until it answers."""

    def __init__(self, limits: ServiceLimits, model: InferenceModel | None = None) -> None:
        self.limits = limits
        self.pending = model  # loaded, not yet serving (no event loop yet)
        self.current: Serving | None = None
        self.error: str | None = None
        self._retiring: asyncio.Task[None] | None = None

    def swap(self, model: InferenceModel) -> Serving:
        """Serve ``model`` from the next request on; the old batcher is stopped after."""
        batcher = MicroBatcher(model, self.limits)
        batcher.start()
        old, self.current = self.current, Serving(model, batcher)
        self.pending = None
        if old is not None:  # its queued requests are still answered, by the old model
            self._retiring = asyncio.get_running_loop().create_task(old.batcher.retire())
        return self.current

    def serving(self) -> Serving:
        """The current model, or 503 while none is ready."""
        if self.current is None and self.pending is not None and self.error is None:
            # A host that runs no lifespan (some test clients) still gets a batcher.
            self.swap(self.pending)
        if self.current is None:
            raise ServiceError(503, self.error or "the model is still loading; retry shortly")
        return self.current

    async def stop(self) -> None:
        if self.current is not None:
            await self.current.batcher.stop()
