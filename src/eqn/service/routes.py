"""The HTTP routes. The model is a dependency (:func:`serving`), read once per request
from the app's :class:`~eqn.service.serving.ModelHolder`, so it can be swapped
atomically and every answer names the model that gave it."""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.background import BackgroundTask

from eqn import __version__
from eqn.annotation.files import annotate_file
from eqn.annotation.options import AnnotateOptions
from eqn.errors import EqnError, LimitError
from eqn.service.schemas import (
    AnnotateRequest,
    AnnotateResponse,
    ExplainRequest,
    Provenance,
    TextAnnotation,
)
from eqn.service.serving import JobQueue, ServiceError, ServiceLimits, Serving
from eqn.service.uploads import attachment, copy_limited

logger = logging.getLogger(__name__)
router = APIRouter()


def serving(request: Request) -> Serving:
    """The model and batcher that answer this request (503 while none is ready)."""
    holder = request.app.state.holder
    current: Serving = holder.serving()
    return current


def limits_of(request: Request) -> ServiceLimits:
    found: ServiceLimits = request.app.state.limits
    return found


Current = Annotated[Serving, Depends(serving)]
Limits = Annotated[ServiceLimits, Depends(limits_of)]


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    holder = request.app.state.holder
    if holder.current is None and (holder.pending is None or holder.error):
        status = "error" if holder.error else "loading"
        return JSONResponse({"status": status, "error": holder.error}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/v1/labels")
async def labels(current: Current) -> dict[str, list[str]]:
    return {"labels": list(current.model.labels)}


@router.get("/v1/model")
async def model_info(current: Current, limits: Limits) -> dict[str, Any]:
    loaded = current.model
    summary = loaded.state_summary()
    config = summary["config"]
    return {
        "eqn_version": __version__,
        "model": loaded.name,
        "model_hash": current.version,
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


def _check_lengths(texts: list[str], limits: ServiceLimits) -> None:
    if len(texts) > limits.max_texts:
        raise ServiceError(
            413,
            f"{len(texts)} texts in one request; the limit is {limits.max_texts}",
            limit=limits.max_texts,
        )
    for index, text in enumerate(texts):
        if len(text) > limits.max_text_chars:
            raise ServiceError(
                422,
                f"text {index} has {len(text)} characters; the limit is {limits.max_text_chars}",
                limit=limits.max_text_chars,
            )


@router.post("/v1/annotate", response_model=AnnotateResponse)
async def annotate(request: AnnotateRequest, current: Current, limits: Limits) -> AnnotateResponse:
    loaded = current.model
    _check_lengths(request.texts, limits)
    calibrated = request.calibrated and loaded.is_calibrated
    threshold = loaded.resolve_threshold(request.threshold, calibrated)
    scored = await current.batcher.score(request.texts)
    if calibrated:
        scored = loaded.calibrate_scores(scored)
    annotated = loaded.annotate_scored(scored, threshold, request.raw)
    return AnnotateResponse(
        threshold=threshold,
        calibrated=calibrated,
        provenance=Provenance(**loaded.provenance(calibrated, threshold)),
        results=[TextAnnotation(**record.to_dict()) for record in annotated.records()],
    )


@router.post("/v1/explain")
async def explain_text(
    request: ExplainRequest, current: Current, limits: Limits, http: Request
) -> dict[str, Any]:
    """Word-level attributions (integrated gradients) of one label's energy."""
    from eqn.model.explain import explain

    if len(request.text) > limits.max_text_chars:
        raise ServiceError(
            422,
            f"the text has {len(request.text)} characters; the limit is {limits.max_text_chars}",
            limit=limits.max_text_chars,
        )
    # Explanations have their own thread and bounded queue: text requests keep their latency.
    explanations: JobQueue = http.app.state.explanations
    result = await explanations.run(explain, current.model, request.text, request.label)
    return result.to_dict()


@router.post("/v1/annotate/csv")
async def annotate_csv(
    request: Request,
    current: Current,
    limits: Limits,
    file: Annotated[UploadFile, File(description="A CSV file with a header row.")],
    text_col: Annotated[str, Form()] = "text",
    threshold: Annotated[float | None, Form()] = None,
) -> Response:
    uploads: JobQueue = request.app.state.uploads
    folder = Path(tempfile.mkdtemp(prefix="eqn-upload-"))
    source, target = folder / "upload.csv", folder / "annotated.csv"
    try:
        copied = await asyncio.get_running_loop().run_in_executor(
            None, copy_limited, file.file, source, limits.max_upload_bytes
        )
        if copied > limits.max_upload_bytes:
            raise ServiceError(
                413,
                f"the file is larger than the limit of {limits.max_upload_bytes} bytes",
                limit=limits.max_upload_bytes,
            )
        options = AnnotateOptions(
            text_col=text_col, threshold=threshold, progress=False, max_rows=limits.max_upload_rows
        )
        summary = await uploads.run(annotate_file, current.model, source, target, options)
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
        headers={"Content-Disposition": attachment(name), "X-EQN-Summary": summary.line()},
        background=BackgroundTask(shutil.rmtree, folder, True),
    )
