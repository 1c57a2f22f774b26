"""The HTTP API (FastAPI) and the web page for interactive annotation.

Requests go through the same functions as the CLI and the Python API: texts are
scored by the model's one scoring step (``InferenceModel.score``) and annotated by
eq. 8 in :mod:`eqn.core.annotation`. Concurrent requests are micro-batched: texts waiting
at most ``max_wait_ms`` are scored together, up to ``max_batch`` texts, in a
worker thread, so the event loop stays responsive and throughput under load
nears the batch path. Library errors become 4xx answers with the same message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.background import BackgroundTask

from eqn import __version__
from eqn.annotation.files import annotate_file
from eqn.annotation.options import AnnotateOptions
from eqn.core.annotation import MAX_ENERGY
from eqn.errors import ConfigError, EqnError, LimitError, ModelError
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

    def __post_init__(self) -> None:
        names = (
            "max_texts",
            "max_text_chars",
            "max_batch",
            "inference_batch",
            "max_upload_bytes",
            "max_upload_rows",
            "max_queued_uploads",
        )
        for name in names:
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_wait_ms < 0:
            raise ConfigError(f"max_wait_ms must be >= 0, got {self.max_wait_ms}")


class AnnotateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[str] = Field(min_length=1, description="Texts to annotate.")

    @field_validator("texts")
    @classmethod
    def _valid_unicode(cls, texts: list[str]) -> list[str]:
        # A lone UTF-16 surrogate cannot be tokenised; refuse this request alone.
        for index, text in enumerate(texts):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as error:
                raise ValueError(
                    f"text {index} holds a lone UTF-16 surrogate ({text[error.start]!r}); "
                    "send valid Unicode"
                ) from None
        return texts

    threshold: float | None = Field(
        None, ge=0, le=MAX_ENERGY, allow_inf_nan=False, description="Micro-emotion threshold h."
    )
    raw: bool = Field(False, description="Return unthresholded energies.")
    calibrated: bool = Field(
        True, description="Calibrated energies (default), or the model's own when false."
    )


class ExplainRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="The text to explain.")
    label: str | None = Field(None, description="The label to explain (default: the macro).")

    @field_validator("text")
    @classmethod
    def _valid_unicode(cls, text: str) -> str:
        AnnotateRequest._valid_unicode([text])
        return text


class MicroEmotion(BaseModel):
    label: str
    energy: float


class TextAnnotation(BaseModel):
    text: str
    energies: dict[str, float]
    macro_emotion: str
    micro_emotions: list[MicroEmotion]
    flag: str = ""


class Provenance(BaseModel):
    model: str
    model_hash: str
    eqn_version: str
    runtime: str
    calibrated: bool
    threshold: float


class AnnotateResponse(BaseModel):
    threshold: float
    calibrated: bool
    provenance: Provenance
    results: list[TextAnnotation]


class ServiceError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


class MicroBatcher:
    """Collects texts from concurrent requests and scores them together."""

    def __init__(self, model: InferenceModel, limits: ServiceLimits) -> None:
        self.model = model
        self.limits = limits
        self.queue: asyncio.Queue[tuple[list[str], asyncio.Future[ScoredTexts]]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None
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

    async def score(self, texts: list[str]) -> ScoredTexts:
        future: asyncio.Future[ScoredTexts] = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, future))
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self.queue.get()
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
                pending.append(item)
                size += len(item[0])
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
                continue
            self.batches += 1
            offset = 0
            for batch, future in pending:
                if not future.done():
                    future.set_result(scored.rows(offset, offset + len(batch)))
                offset += len(batch)

    def _score(self, texts: list[str]) -> ScoredTexts:
        # Uncalibrated here, so requests that ask for either can share a batch.
        return self.model.score(texts, self.limits.inference_batch, calibrated=False)


def _static_dir() -> Path:
    return Path(str(resources.files("eqn.service") / "static"))


def _swagger_dir() -> Path | None:
    """The Swagger UI's files from the swagger-ui-bundle-v2 package, if it is installed."""
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    return Path(swagger_ui_bundle.swagger_ui_path)


def create_app(
    model: InferenceModel | None = None,
    model_path: str | os.PathLike[str] | None = None,
    limits: ServiceLimits | None = None,
    device: str = "auto",
    runtime: str = "auto",
) -> FastAPI:
    """The FastAPI app. Give a loaded ``model``, or a ``model_path`` (None: the default
    model) to load once at start-up; ``/healthz`` reports ready only after that."""
    limits = limits or ServiceLimits()
    state: dict[str, Any] = {"model": model, "batcher": None, "error": None}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state["model"] is None:
            from eqn.model.runtime import load_model

            try:
                state["model"] = await asyncio.get_running_loop().run_in_executor(
                    None, load_model, model_path, device, runtime
                )
            except Exception as error:  # reported by /healthz, not a crash
                logger.error("could not load the model: %s", error)
                state["error"] = str(error)
        if state["model"] is not None:
            state["batcher"] = MicroBatcher(state["model"], limits)
            state["batcher"].start()
        yield
        if state["batcher"] is not None:
            await state["batcher"].stop()

    app = FastAPI(
        title="eqn",
        version=__version__,
        description="Micro-emotion annotation with energy scores (EQN).",
        lifespan=lifespan,
        docs_url=None,  # served below from local assets: offline, and under our CSP
        redoc_url=None,
    )
    app.state.eqn = state
    app.state.limits = limits
    app.add_middleware(UploadSizeLimit, path="/v1/annotate/csv", limit=limits.max_upload_bytes)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, error: ServiceError) -> JSONResponse:
        return JSONResponse({"error": error.message, **error.extra}, status_code=error.status)

    @app.exception_handler(EqnError)
    async def library_error(_: Request, error: EqnError) -> JSONResponse:
        status = (
            503 if isinstance(error, ModelError) else 413 if isinstance(error, LimitError) else 422
        )
        field = {"field": error.parameter} if error.parameter else {}
        return JSONResponse({"error": str(error), **field}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            problems.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
        message = "invalid request: " + "; ".join(problems)
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in error.errors()]
        return JSONResponse({"error": message, "detail": detail}, status_code=422)

    def ready_model() -> InferenceModel:
        if state["model"] is not None and state["batcher"] is None and state["error"] is None:
            # A host that runs no lifespan (some test clients) still gets a batcher.
            state["batcher"] = MicroBatcher(state["model"], limits)
            state["batcher"].start()
        if state["model"] is None or state["batcher"] is None:
            raise ServiceError(503, state["error"] or "the model is still loading; retry shortly")
        return state["model"]

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        if state["batcher"] is None:
            status = "error" if state["error"] else "loading"
            return JSONResponse({"status": status, "error": state["error"]}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/v1/labels")
    async def labels() -> dict[str, list[str]]:
        return {"labels": list(ready_model().labels)}

    @app.get("/v1/model")
    async def model_info() -> dict[str, Any]:
        loaded = ready_model()
        summary = loaded.state_summary()
        config = summary["config"]
        return {
            "eqn_version": __version__,
            "model": loaded.name,
            "model_hash": loaded.model_hash,
            "runtime": loaded.runtime,
            "backbone": config["backbone"],
            "encoder": config["backbone_options"].get("model_name_or_path"),
            "objective": config["objective"],
            "loss": config["loss"],
            "labels": summary["labels"],
            "thresholds": summary["thresholds"],
            "best_epoch": summary["fit"]["best_epoch"],
            "limits": limits.__dict__,
        }

    @app.post("/v1/annotate", response_model=AnnotateResponse)
    async def annotate(request: AnnotateRequest) -> AnnotateResponse:
        loaded = ready_model()
        if len(request.texts) > limits.max_texts:
            raise ServiceError(
                413,
                f"{len(request.texts)} texts in one request; the limit is {limits.max_texts}",
                limit=limits.max_texts,
            )
        for index, text in enumerate(request.texts):
            if len(text) > limits.max_text_chars:
                raise ServiceError(
                    422,
                    f"text {index} has {len(text)} characters; the limit is "
                    f"{limits.max_text_chars}",
                    limit=limits.max_text_chars,
                )
        calibrated = request.calibrated and loaded.is_calibrated
        threshold = loaded.resolve_threshold(request.threshold, calibrated)
        scored = await state["batcher"].score(request.texts)
        if calibrated:
            scored = loaded.calibrate_scores(scored)
        annotated = loaded.annotate_scored(scored, threshold, request.raw)
        return AnnotateResponse(
            threshold=threshold,
            calibrated=calibrated,
            provenance=Provenance(**loaded.provenance(calibrated, threshold)),
            results=[TextAnnotation(**record.to_dict()) for record in annotated.records()],
        )

    @app.post("/v1/explain")
    async def explain_text(request: ExplainRequest) -> dict[str, Any]:
        """Word-level attributions (integrated gradients) of one label's energy."""
        from eqn.model.explain import explain

        loaded = ready_model()
        if len(request.text) > limits.max_text_chars:
            raise ServiceError(
                422,
                f"the text has {len(request.text)} characters; the limit is "
                f"{limits.max_text_chars}",
                limit=limits.max_text_chars,
            )
        call = functools.partial(explain, loaded, request.text, request.label)
        result = await asyncio.get_running_loop().run_in_executor(state["batcher"].executor, call)
        return result.to_dict()

    uploads = UploadQueue(limits.max_queued_uploads)

    @app.post("/v1/annotate/csv")
    async def annotate_csv(
        file: Annotated[UploadFile, File(description="A CSV file with a header row.")],
        text_col: Annotated[str, Form()] = "text",
        threshold: Annotated[float | None, Form()] = None,
    ) -> Response:
        loaded = ready_model()
        folder = Path(tempfile.mkdtemp(prefix="eqn-upload-"))
        try:
            source, target = folder / "upload.csv", folder / "annotated.csv"
            copied = await asyncio.get_running_loop().run_in_executor(
                None, _copy_limited, file.file, source, limits.max_upload_bytes
            )
            if copied > limits.max_upload_bytes:
                raise ServiceError(
                    413,
                    f"the file is larger than the limit of {limits.max_upload_bytes} bytes",
                    limit=limits.max_upload_bytes,
                )
            options = AnnotateOptions(
                text_col=text_col,
                threshold=threshold,
                progress=False,
                max_rows=limits.max_upload_rows,
            )
            summary = await uploads.run(annotate_file, loaded, source, target, options)
        except EqnError as error:
            shutil.rmtree(folder, ignore_errors=True)
            # Speak of the uploaded file, not of our temporary copy.
            message = str(error).replace(str(source), repr(file.filename or "the upload"))
            if isinstance(error, LimitError):
                raise ServiceError(413, message, limit=limits.max_upload_rows) from None
            raise ServiceError(422, message) from None
        except ServiceError:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        except Exception as error:  # a file we failed to read is the file's problem: 422
            shutil.rmtree(folder, ignore_errors=True)
            logger.exception("upload could not be annotated")
            raise ServiceError(422, f"the file could not be read as CSV: {error}") from None
        name = (Path(file.filename or "upload.csv").stem or "upload") + ".eqn.csv"
        return FileResponse(
            target,
            media_type="text/csv",
            headers={
                "Content-Disposition": _attachment(name),
                "X-EQN-Summary": summary.line(),
            },
            background=BackgroundTask(shutil.rmtree, folder, True),
        )

    static = _static_dir()
    swagger = _swagger_dir()
    if swagger is not None:
        app.mount("/static/swagger", StaticFiles(directory=swagger), name="swagger")
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        if swagger is None:
            raise ServiceError(
                404,
                "the API page needs the swagger-ui-bundle-v2 package (pip install 'eqn[serve]')",
            )
        return FileResponse(static / "docs.html")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(static / "index.html")

    return app


class UploadQueue:
    """File jobs, one at a time in a thread of their own; a full queue answers 429."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.waiting = 0
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="eqn-uploads")

    async def run(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        if self.waiting >= self.size:
            raise ServiceError(
                429, f"{self.waiting} file jobs are already queued; retry shortly", limit=self.size
            )
        self.waiting += 1
        try:
            call = functools.partial(function, *args, **kwargs)
            return await asyncio.get_running_loop().run_in_executor(self.executor, call)
        finally:
            self.waiting -= 1


def _copy_limited(source: Any, target: Path, limit: int) -> int:
    """Copy an upload to disk in blocks; stop once past ``limit`` bytes."""
    copied = 0
    with target.open("wb") as out:
        while block := source.read(1 << 20):
            copied += len(block)
            if copied > limit:
                break
            out.write(block)
    return copied


def _attachment(name: str) -> str:
    """A Content-Disposition header for any file name (RFC 6266: ASCII fallback + UTF-8)."""
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


class UploadSizeLimit:
    """Refuse an upload by its declared size before reading it (413), or without one (411)."""

    def __init__(self, app: Any, path: str, limit: int) -> None:
        self.app, self.path, self.limit = app, path, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST":
            headers = dict(scope.get("headers") or [])
            declared = headers.get(b"content-length")
            status, message = 0, ""
            if declared is None or not declared.isdigit():
                status, message = 411, "send the upload with a Content-Length header"
            elif int(declared) > self.limit + 64 * 1024:  # room for the multipart framing
                status = 413
                message = f"the file is larger than the limit of {self.limit} bytes"
            if status:
                response = JSONResponse({"error": message, "limit": self.limit}, status)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}


__all__ = ["ServiceLimits", "create_app"]
