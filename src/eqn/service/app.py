"""The HTTP API (FastAPI) and the web page for interactive annotation.

Requests go through the same functions as the CLI and the Python API: texts are
scored by the model's one scoring step (``InferenceModel.score``) and annotated by
eq. 8 in :mod:`eqn.core.annotation`. Concurrent requests are micro-batched
(:class:`~eqn.service.serving.MicroBatcher`); the routes live in
:mod:`eqn.service.routes`, with the model as a dependency that
:class:`~eqn.service.serving.ModelHolder` can swap atomically. Library errors
become 4xx answers with the same message, in one error body: ``{"error": ...}``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from eqn import __version__
from eqn.errors import EqnError, LimitError, ModelError
from eqn.model.inference import InferenceModel
from eqn.service import ml_backend
from eqn.service.routes import router
from eqn.service.serving import JobQueue, ModelHolder, ServiceError, ServiceLimits
from eqn.service.training import TrainingJobs, TrainingSettings
from eqn.service.uploads import BasicAuth, BodySizeLimit

logger = logging.getLogger(__name__)


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
    preload_explainer: bool = True,
    training: TrainingSettings | None = None,
    basic_auth: str | None = None,
) -> FastAPI:
    """The FastAPI app. Give a loaded ``model``, or a ``model_path`` (None: the default
    model) to load once at start-up; ``/healthz`` reports ready only after that.
    ``preload_explainer``: load the torch model that explanations need at start-up (in
    their own thread), so that no request waits for it. ``training``: where and how
    Label Studio's /train and /webhook train new versions (None: they answer 403).
    ``basic_auth``: ``USER:PASSWORD`` that Label Studio's routes then require."""
    limits = limits or ServiceLimits()
    holder = ModelHolder(limits, model)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if holder.pending is None:
            from eqn.model.runtime import load_model

            loop = asyncio.get_running_loop()
            try:
                loaded = await loop.run_in_executor(None, load_model, model_path, device, runtime)
            except Exception as error:  # reported by /healthz, not a crash
                logger.error("could not load the model: %s", error)
                holder.error = str(error)
            else:
                holder.swap(loaded)
        else:
            holder.swap(holder.pending)
        if preload_explainer and holder.current is not None:
            # The torch twin that explanations need (~20 s for the shipped model) loads now,
            # in the explanations' own thread, not on the first /v1/explain.
            from eqn.model.explain import torch_model

            app.state.explanations.start(torch_model, holder.current.model)
        yield
        await holder.stop()
        if app.state.training is not None:
            await app.state.training.stop()

    app = FastAPI(
        title="eqn",
        version=__version__,
        description="Micro-emotion annotation with energy scores (EQN).",
        lifespan=lifespan,
        docs_url=None,  # served below from local assets: offline, and under our CSP
        redoc_url=None,
    )
    app.state.holder = holder
    app.state.limits = limits
    app.state.labeling_configs = {}  # Label Studio project -> its labeling config
    app.state.training = TrainingJobs(holder, training) if training is not None else None
    app.state.uploads = JobQueue("file jobs", limits.max_queued_uploads)
    app.state.explanations = JobQueue("explanations", limits.max_queued_explanations)
    app.add_middleware(BodySizeLimit, limits=limits.body_limits())
    if basic_auth:
        app.add_middleware(BasicAuth, paths=ml_backend.PATHS, credentials=basic_auth)
    _add_error_handlers(app)
    app.include_router(router)
    app.include_router(ml_backend.router)  # Label Studio's ML backend protocol, at the root
    _add_pages(app)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
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

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        # Starlette's own answers (404, 405) in the service's one error body too.
        headers = dict(error.headers or {})
        return JSONResponse({"error": str(error.detail)}, error.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
            problems.append(f"{where or 'body'}: {item.get('msg', 'invalid')}")
        message = "invalid request: " + "; ".join(problems)
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in error.errors()]
        return JSONResponse({"error": message, "detail": detail}, status_code=422)


def _add_pages(app: FastAPI) -> None:
    """The web page, its static files and the API page (/docs), all served locally."""
    static = _static_dir()
    swagger = _swagger_dir()
    if swagger is not None:
        app.mount("/static/swagger", StaticFiles(directory=swagger), name="swagger")
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        if swagger is None:
            raise ServiceError(
                404, "the API page needs swagger-ui-bundle-v2 (pip install 'eqn[serve]')"
            )
        return FileResponse(static / "docs.html")

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(static / "index.html")


SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}


__all__ = ["ServiceLimits", "create_app"]
