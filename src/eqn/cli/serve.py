"""``eqn serve``: the HTTP API and the web page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eqn.cli.common import (
    DeviceOpt,
    ModelOpt,
    RuntimeOpt,
    fail,
    refuse_options,
    reporting_errors,
)

if TYPE_CHECKING:
    from eqn.service.training import TrainingSettings

NAME = "serve"


@reporting_errors
def command(
    context: typer.Context,
    model_path: ModelOpt = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
    max_texts: Annotated[int, typer.Option(help="Most texts per request (413 above).")] = 64,
    max_text_chars: Annotated[
        int, typer.Option(help="Longest text in characters (422 above).")
    ] = 5000,
    max_batch: Annotated[int, typer.Option(help="Most texts in one micro-batch.")] = 256,
    inference_batch: Annotated[
        int, typer.Option(help="Length-sorted sub-batch size within a micro-batch.")
    ] = 32,
    max_wait_ms: Annotated[float, typer.Option(help="Longest wait to fill a batch.")] = 5.0,
    max_upload_mb: Annotated[float, typer.Option(help="Largest CSV upload, in MiB.")] = 10.0,
    device: DeviceOpt = "auto",
    runtime: RuntimeOpt = "auto",
    allow_training: Annotated[
        bool,
        typer.Option(
            "--allow-training",
            help="Let Label Studio train new versions (POST /train, /webhook); off by default.",
        ),
    ] = False,
    versions_dir: Annotated[
        Path | None,
        typer.Option(help="Where trained versions go (default: $EQN_HOME/versions)."),
    ] = None,
    keep_versions: Annotated[int, typer.Option(help="Trained versions kept.")] = 5,
    train_epochs: Annotated[int, typer.Option(help="Epochs of each training job.")] = 1,
    train_after: Annotated[
        int,
        typer.Option(
            help="Train a project after this many new annotations (Label Studio's "
            "ANNOTATION_CREATED/UPDATED webhooks); 0: only on START_TRAINING."
        ),
    ] = 0,
    basic_auth: Annotated[
        str | None,
        typer.Option(
            envvar="EQN_BASIC_AUTH",
            help="USER:PASSWORD that Label Studio's routes require (or EQN_BASIC_AUTH).",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (/v1/annotate, /v1/labels, /v1/model, /healthz) and the web page."""
    try:
        import uvicorn

        from eqn.service import ServiceLimits, create_app
    except ImportError:
        fail("eqn serve needs the serve extra: pip install 'eqn[serve]'")
    limits = ServiceLimits(
        max_texts=max_texts,
        max_text_chars=max_text_chars,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        inference_batch=inference_batch,
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
    )
    from eqn.model.device import resolve_device
    from eqn.model.runtime import resolve_runtime

    # Clear errors now, not in the server's start-up.
    resolve_device(device)
    resolve_runtime(runtime, device, "transformer")
    if allow_training:
        training = _training_settings(versions_dir, keep_versions, train_epochs, train_after)
    else:
        training = None
        training_options = ("versions_dir", "keep_versions", "train_epochs", "train_after")
        refuse_options(context, training_options, "used only with --allow-training", "add it")
    if basic_auth is not None and ":" not in basic_auth:
        fail("give basic auth as USER:PASSWORD", "--basic-auth")
    app = create_app(
        model_path=model_path,
        limits=limits,
        device=device,
        runtime=runtime,
        training=training,
        basic_auth=basic_auth,
    )
    uvicorn.run(app, host=host, port=port)


def _training_settings(
    versions_dir: Path | None, keep_versions: int, train_epochs: int, train_after: int
) -> TrainingSettings:
    """--allow-training's settings, checked (naming the flag) before the folder is made."""
    from eqn.errors import InputError
    from eqn.io import eqn_home
    from eqn.service.training import TrainingSettings

    folder = versions_dir or eqn_home() / "versions"
    # A restart serves each project's last accepted version (TrainingJobs finds them).
    try:
        settings = TrainingSettings(folder, keep_versions, train_epochs, train_after=train_after)
    except InputError as error:
        flags = {"keep": "--keep-versions", "epochs": "--train-epochs"}
        fail(str(error), {**flags, "train_after": "--train-after"}.get(error.parameter or ""))
    folder.mkdir(parents=True, exist_ok=True)
    return settings
