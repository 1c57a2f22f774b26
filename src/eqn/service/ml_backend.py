"""The Label Studio ML backend protocol, at the server's root, so that a Label Studio
project connects to ``http://HOST:PORT`` (Settings > Model).

* ``GET /health``: ``{"status": "UP", "model_version": ...}``.
* ``POST /setup``: reads the project's labeling config (its Choices and Text tags,
  whatever their names); a choice the model does not know is a 422 that names it.
* ``POST /predict``: one prediction per task: the macro- and micro-emotions pre-selected
  as choices, ``score`` (macro energy / 10), ``model_version``, and every label's
  energy in ``meta`` so reviewers can sort by them. A task with no text gets
  ``"result": []``. Tasks are scored in chunks: no cap on their number.

Label Studio sends more keys than these; unknown keys are ignored. Errors use the
service's one error body.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from eqn.annotation.label_studio import labeling_config
from eqn.data.label_studio import LabelingConfig, parse_labeling_config, tasks_annotations
from eqn.errors import InputError
from eqn.model.inference import InferenceModel
from eqn.service.serving import ServiceError, Serving
from eqn.service.training import TrainingJobs, fetch_export, project_key

router = APIRouter()
PATHS = {"/health", "/setup", "/predict", "/train", "/webhook", "/is_training"}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")  # Label Studio sends more than eqn reads


class SetupRequest(_Lenient):
    project: str | int | None = None
    schema_: str | None = Field(None, alias="schema")


class PredictRequest(_Lenient):
    tasks: list[dict[str, Any]] = Field(default_factory=list)
    label_config: str | None = None
    project: str | int | None = None
    params: dict[str, Any] | None = None


def model_version(model: InferenceModel) -> str:
    return f"{model.name}-{model.model_hash}"


def _config(request: Request, project: str | int | None, xml: str | None) -> LabelingConfig:
    """The request's config, else the one its project set up, else eqn's own."""
    configs: dict[str, LabelingConfig] = request.app.state.labeling_configs
    if xml:
        try:
            return parse_labeling_config(xml)
        except InputError as error:
            raise ServiceError(422, str(error)) from None
    found = configs.get(project_key(project))
    if found is not None:
        return found
    model = request.app.state.holder.serving().model
    return parse_labeling_config(labeling_config(model.labels))


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    holder = request.app.state.holder
    current = holder.current
    return {
        "status": "UP" if current is not None else "DOWN",
        "model_class": "eqn",
        "model_version": model_version(current.model) if current is not None else None,
    }


async def _serving(request: Request, project: object) -> Serving:
    """The project's model: its own trained version when it has one, else the served one."""
    jobs: TrainingJobs | None = request.app.state.training
    holder = await jobs.holder_for(project) if jobs is not None else request.app.state.holder
    return holder.serving()


@router.post("/setup")
async def setup(body: SetupRequest, request: Request) -> dict[str, Any]:
    if not body.schema_:
        raise ServiceError(422, "setup needs the project's labeling config under 'schema'")
    current = await _serving(request, body.project)
    config = _config(request, body.project, body.schema_)
    try:
        config.check_choices(current.model.labels, current.model.name)
    except InputError as error:
        raise ServiceError(422, str(error)) from None
    request.app.state.labeling_configs[project_key(body.project)] = config
    return {"model_version": model_version(current.model)}


@router.post("/predict")
async def predict(body: PredictRequest, request: Request) -> dict[str, Any]:
    current = await _serving(request, body.project)
    config = _config(request, body.project, body.label_config)
    model, version = current.model, model_version(current.model)
    texts = [_text(task, config.field) for task in body.tasks]
    wanted = [i for i, text in enumerate(texts) if text]
    chunk = request.app.state.limits.max_batch
    energies: dict[int, Any] = {}
    for start in range(0, len(wanted), chunk):
        part = wanted[start : start + chunk]
        scored = await current.batcher.score([texts[i] or "" for i in part])
        scored = model.calibrate_scores(scored)
        for position, index in enumerate(part):
            energies[index] = scored.energies[position]
    h = model.threshold_for(calibrated=model.is_calibrated)
    allowed = set(config.choices) or set(model.labels)
    results = []
    for index in range(len(texts)):
        if index not in energies:
            results.append({"result": [], "score": 0.0, "model_version": version})
            continue
        results.append(_prediction(model, energies[index], h, allowed, config, version))
    return {"results": results, "model_version": version}


def _text(task: dict[str, Any], field: str) -> str | None:
    data = task.get("data") if isinstance(task, dict) else None
    value = data.get(field) if isinstance(data, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def _prediction(
    model: InferenceModel,
    row: Any,
    h: float,
    allowed: set[str],
    config: LabelingConfig,
    version: str,
) -> dict[str, Any]:
    labels = model.labels
    order = sorted(range(len(labels)), key=lambda j: -float(row[j]))
    macro = labels[order[0]]
    kept = [labels[j] for j in order if j == order[0] or float(row[j]) >= h]
    choices = [label for label in kept if label in allowed]
    result = (
        [
            {
                "from_name": config.from_name,
                "to_name": config.to_name,
                "type": "choices",
                "value": {"choices": choices},
            }
        ]
        if choices
        else []
    )
    return {
        "result": result,
        "score": round(float(row[order[0]]) / model.config.max_energy, 4),
        "model_version": version,
        "meta": {
            "macro_emotion": macro,
            "energies": {label: round(float(row[j]), 2) for j, label in enumerate(labels)},
        },
    }


# -- training (eqn serve --allow-training) ---------------------------------------------
class TrainRequest(_Lenient):
    annotations: list[dict[str, Any]] = Field(default_factory=list)
    project: str | int | None = None
    label_config: str | None = None


class WebhookRequest(_Lenient):
    action: str = ""
    project: dict[str, Any] | str | int | None = None


def _jobs(request: Request) -> TrainingJobs:
    jobs: TrainingJobs | None = request.app.state.training
    if jobs is None:
        raise ServiceError(
            403, "training is off on this server: it was started without allowing training"
        )
    return jobs


@router.post("/train")
async def train(body: TrainRequest, request: Request) -> dict[str, Any]:
    jobs = _jobs(request)
    config = _config(request, body.project, body.label_config)
    if not body.annotations:
        raise ServiceError(422, "train needs the annotated tasks under 'annotations'")
    try:  # refused now, by name, rather than in the training job
        tasks_annotations(body.annotations, "annotations", config.field)
    except InputError as error:
        raise ServiceError(422, str(error)) from None
    job = await jobs.start(body.project, body.annotations, config.field)
    return {"status": "started", "job": job, "project": project_key(body.project)}


ANNOTATION_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED")


@router.post("/webhook")
async def webhook(body: WebhookRequest, request: Request) -> dict[str, Any]:
    """``START_TRAINING`` starts a job; with ``train_after`` N, so does the Nth new
    annotation of a project since its last job (counted while a job runs, too)."""
    jobs = _jobs(request)
    project = body.project
    project_id = project_key(project.get("id") if isinstance(project, dict) else project)
    after = jobs.settings.train_after
    if body.action in ANNOTATION_ACTIONS and after > 0:
        count = jobs.count_annotation(project_id)
        if count < after or jobs.is_training():
            return {"status": "counted", "new_annotations": count, "train_after": after}
    elif body.action != "START_TRAINING":
        return {"status": "ignored", "action": body.action}
    xml = project.get("label_config") if isinstance(project, dict) else None
    url, key = os.environ.get("LABEL_STUDIO_URL"), os.environ.get("LABEL_STUDIO_API_KEY")
    if not url or not key:
        raise ServiceError(
            422,
            "to fetch annotations from Label Studio, set LABEL_STUDIO_URL and "
            "LABEL_STUDIO_API_KEY (a personal access token, or a legacy token)",
        )
    config = _config(request, project_id, xml)
    loop = asyncio.get_running_loop()
    tasks = await loop.run_in_executor(None, fetch_export, url, key, project_id)
    job = await jobs.start(project_id, tasks, config.field)
    return {"status": "started", "job": job, "project": project_id}


@router.get("/is_training")
async def is_training(request: Request, project: str | None = None) -> dict[str, Any]:
    jobs: TrainingJobs | None = request.app.state.training
    return {"is_training": bool(jobs and jobs.is_training(project))}
