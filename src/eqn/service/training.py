"""Training from reviewers' annotations while the service keeps answering.

Each Label Studio project has its own model: the served one until reviewers train it,
then its latest accepted version (a restart finds it again, if it serves the model that
version descends from: a server given another model starts each project from that
one, and the old versions stay on disk). One job at a time continues
the project's model on the export
(:func:`eqn.experiments.continued.continue_training`) in a subprocess at low priority
with one thread, so predictions keep flowing from the current model. When it
finishes, the new version replaces the project's model atomically if it is no worse
than its parent on its held-out share (ties accepted); either way one line of
provenance goes to ``VERSIONS/versions.jsonl``, and only each project's last ``keep``
versions' folders are kept.

    VERSIONS/PROJECT/STAMP/export.json   what the job learned from
    VERSIONS/PROJECT/STAMP/run/          its run folder (run/eqn: the model)
    VERSIONS/versions.jsonl              one line per job: project, version, verdict
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eqn.errors import InputError
from eqn.io import atomic_write
from eqn.service.serving import ModelHolder, ServiceError

logger = logging.getLogger(__name__)

LOG = "versions.jsonl"


@dataclass(frozen=True)
class TrainingSettings:
    """Where versions live, how many are kept, what one training job costs, and after
    how many new annotations of a project a job starts by itself (0: only when asked)."""

    versions_dir: Path
    keep: int = 5
    epochs: int = 1
    timeout_s: float = 3 * 3600
    train_after: int = 0

    def __post_init__(self) -> None:
        for name, least in (("keep", 1), ("epochs", 1), ("train_after", 0)):
            if getattr(self, name) < least:
                raise InputError(
                    f"{name} must be {least} or more, got {getattr(self, name)}", parameter=name
                )
        if not self.timeout_s > 0:
            raise InputError(f"timeout_s must be positive, got {self.timeout_s}")


def project_key(project: object) -> str:
    """Label Studio names a project ``ID`` in webhooks and ``ID.TIMESTAMP`` in requests
    to the backend: both are the project ``ID``."""
    return str(project).split(".", 1)[0]


def latest_accepted(versions_dir: Path, base: str) -> dict[str, Path]:
    """Each project's model for a restart: its last accepted training job still on disk
    among those that descend from the served model (``base``, its hash)."""
    log = versions_dir / LOG
    found: dict[str, Path] = {}
    if not log.is_file():
        return found
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        model = Path(entry.get("folder", "")) / "run" / "eqn"
        from_base = entry.get("base") == base
        if from_base and entry.get("accepted") and (model / "config.json").is_file():
            found[project_key(entry.get("project"))] = model
    return found


class TrainingJobs:
    """Each project's model, and at most one training job; ``is_training(project)``
    while it runs."""

    def __init__(self, holder: ModelHolder, settings: TrainingSettings) -> None:
        self.holder, self.settings = holder, settings
        self.project: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.projects: dict[str, ModelHolder] = {}
        self.new_annotations: dict[str, int] = {}
        self._saved: dict[str, Path] | None = None  # found on first use (needs the model)
        self._loading: dict[str, asyncio.Task[None]] = {}

    async def holder_for(self, project: object) -> ModelHolder:
        """The project's model: its latest accepted version, else the served one."""
        key = project_key(project)
        if self._saved is None:
            base = self.holder.serving().model.model_hash
            self._saved = latest_accepted(self.settings.versions_dir, base)
        if key in self._saved:
            path = self._saved.pop(key)
            self._loading[key] = asyncio.get_running_loop().create_task(self._load(key, path))
        if key in self._loading:  # requests that come while it loads wait for it too
            await self._loading[key]
        return self.projects.get(key, self.holder)

    async def _load(self, key: str, path: Path) -> None:
        from eqn.model.runtime import load_model

        runtime = self.holder.serving().model.runtime
        try:
            loaded = await asyncio.get_running_loop().run_in_executor(
                None, load_model, path, "cpu", runtime
            )
        except Exception:  # the project falls back to the served model, said in the log
            logger.exception("project %s: could not load its version %s", key, path)
            return
        if key not in self.projects:  # a version trained meanwhile is newer
            self.projects[key] = ModelHolder(self.holder.limits)
            self.projects[key].swap(loaded)

    def is_training(self, project: object | None = None) -> bool:
        busy = self.task is not None and not self.task.done()
        return busy and (project is None or project_key(project) == self.project)

    def count_annotation(self, project: object) -> int:
        """One more new annotation in ``project``; how many since its last job."""
        key = project_key(project)
        self.new_annotations[key] = self.new_annotations.get(key, 0) + 1
        return self.new_annotations[key]

    async def stop(self) -> None:
        for holder in self.projects.values():
            await holder.stop()

    async def start(
        self, project: object, tasks: list[dict[str, Any]], text_field: str | None
    ) -> str:
        """Start a job on ``tasks`` (a Label Studio export's tasks); returns its folder name."""
        if self.is_training():
            raise ServiceError(
                429, f"project {self.project} is training; retry when /is_training says false"
            )
        key = project_key(project)
        source = (await self.holder_for(key)).serving().model.source_
        if source is None:
            raise ServiceError(422, "the served model has no folder to continue from")
        self.new_annotations[key] = 0
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = self.settings.versions_dir / _safe(key) / stamp
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(folder / "export.json", "w", encoding="utf-8") as stream:
            json.dump(tasks, stream)
        self.project = key
        self.task = asyncio.get_running_loop().create_task(
            self._run(key, folder, Path(source), text_field)
        )
        return stamp

    async def _run(self, project: str, folder: Path, parent: Path, field: str | None) -> None:
        # The library's continue_training in a process of its own, so that its CPU time
        # and memory leave the server's alone.
        job = [str(folder / "export.json"), str(parent), str(folder / "run")]
        job += [str(self.settings.epochs), field or ""]
        command = [sys.executable, "-m", "eqn.service.training_job", *job]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        loop = asyncio.get_running_loop()
        started = time.time()
        try:
            done = await loop.run_in_executor(
                None, _low_priority_run, command, env, folder, self.settings.timeout_s
            )
            verdict = await self._adopt(project, folder, done)
        except Exception as error:  # the job's failure is recorded, the service goes on
            logger.exception("training job for project %s failed", project)
            verdict = {"accepted": False, "reason": f"{type(error).__name__}: {error}"}
        line = {
            "project": project,
            "folder": str(folder),
            "seconds": round(time.time() - started, 1),
            "parent": str(parent),
            "base": self.holder.serving().model.model_hash,
            **verdict,
        }
        with (self.settings.versions_dir / LOG).open("a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")
        self._prune()

    async def _adopt(self, project: str, folder: Path, returncode: int) -> dict[str, Any]:
        if returncode != 0:
            tail = (folder / "train.log").read_text(errors="replace")[-300:]
            return {"accepted": False, "reason": f"eqn train failed: {tail}"}
        record = json.loads((folder / "run" / "run.json").read_text())
        scores = record["held_out_macro_f1"]
        if not record["better_than_parent"]:
            return {"accepted": False, "reason": f"worse than its parent on held out: {scores}"}
        from eqn.model.runtime import load_model

        current = self.holder.serving().model
        loaded = await asyncio.get_running_loop().run_in_executor(
            None, load_model, folder / "run" / "eqn", "cpu", current.runtime
        )
        self.projects.setdefault(project, ModelHolder(self.holder.limits)).swap(loaded)
        return {"accepted": True, "model_version": loaded.model_hash, "held_out": scores}

    def _prune(self) -> None:
        """Keep each project's last ``keep`` job folders (its served one among them)."""
        served = [str(h.current.model.source_ or "") for h in self.projects.values() if h.current]
        for project in self.settings.versions_dir.iterdir():
            if not project.is_dir():
                continue
            folders = sorted((f for f in project.iterdir() if f.is_dir()), key=lambda f: f.name)
            for old in folders[: -self.settings.keep]:
                if not any(path.startswith(str(old)) for path in served):
                    shutil.rmtree(old, ignore_errors=True)


def _low_priority_run(command: list[str], env: dict[str, str], folder: Path, timeout: float) -> int:
    with (folder / "train.log").open("w") as log:
        try:
            done = subprocess.run(
                command,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=lambda: os.nice(10),  # noqa: PLW1509 (no threads in the child yet)
                check=False,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            log.write(f"\nstopped: longer than {timeout:.0f} s\n")
            return -1
    return done.returncode


def fetch_export(url: str, key: str, project: str) -> list[dict[str, Any]]:
    """A project's annotated tasks from Label Studio's API: a personal access token is
    exchanged for an access token first; a legacy token is used as it is."""
    import urllib.error
    import urllib.request

    def call(path: str, headers: dict[str, str], body: bytes | None = None) -> Any:
        request = urllib.request.Request(url.rstrip("/") + path, data=body, headers=headers)
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.loads(answer.read())

    json_type = {"Content-Type": "application/json"}
    try:
        access = call("/api/token/refresh", json_type, json.dumps({"refresh": key}).encode())
        auth = f"Bearer {access['access']}"
    except (urllib.error.URLError, KeyError, ValueError):
        auth = f"Token {key}"  # a legacy token
    try:
        found = call(f"/api/projects/{project}/export?exportType=JSON", {"Authorization": auth})
    except urllib.error.URLError as error:
        raise ServiceError(
            502, f"Label Studio at {url} did not give project {project}'s annotations: {error}"
        ) from None
    if not isinstance(found, list):
        raise ServiceError(502, f"Label Studio's export of project {project} is not a task list")
    return found


def _safe(project: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in project) or "project"
