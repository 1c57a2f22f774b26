"""Training from reviewers' annotations while the service keeps answering.

One job at a time continues the current model on the export
(:func:`eqn.experiments.continued.continue_training`) in a subprocess at low priority
with one thread, so predictions keep flowing from the current model. When it
finishes, the new version replaces the current model atomically if it is no worse
than its parent on its held-out share (ties accepted); either way one line of
provenance goes to ``VERSIONS/versions.jsonl``, and only the last ``keep`` versions'
folders are kept.

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

from eqn.io import atomic_write
from eqn.service.serving import ModelHolder, ServiceError

logger = logging.getLogger(__name__)

LOG = "versions.jsonl"


@dataclass(frozen=True)
class TrainingSettings:
    """Where versions live, how many are kept, and what one training job costs."""

    versions_dir: Path
    keep: int = 5
    epochs: int = 1
    timeout_s: float = 3 * 3600


def latest_accepted(versions_dir: Path) -> Path | None:
    """The model of the last accepted training job still on disk, for a restart."""
    log = versions_dir / LOG
    if not log.is_file():
        return None
    for line in reversed(log.read_text(encoding="utf-8").splitlines()):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        model = Path(entry.get("folder", "")) / "run" / "eqn"
        if entry.get("accepted") and (model / "config.json").is_file():
            return model
    return None


class TrainingJobs:
    """At most one training job; ``is_training(project)`` while it runs."""

    def __init__(self, holder: ModelHolder, settings: TrainingSettings) -> None:
        self.holder, self.settings = holder, settings
        self.project: str | None = None
        self.task: asyncio.Task[None] | None = None

    def is_training(self, project: str | None = None) -> bool:
        busy = self.task is not None and not self.task.done()
        return busy and (project is None or project == self.project)

    def start(self, project: str, tasks: list[dict[str, Any]], text_field: str | None) -> str:
        """Start a job on ``tasks`` (a Label Studio export's tasks); returns its folder name."""
        if self.is_training():
            raise ServiceError(
                429, f"project {self.project} is training; retry when /is_training says false"
            )
        source = self.holder.serving().model.source_
        if source is None:
            raise ServiceError(422, "the served model has no folder to continue from")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        folder = self.settings.versions_dir / _safe(project) / stamp
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_write(folder / "export.json", "w", encoding="utf-8") as stream:
            json.dump(tasks, stream)
        self.project = project
        self.task = asyncio.get_running_loop().create_task(
            self._run(project, folder, Path(source), text_field)
        )
        return stamp

    async def _run(self, project: str, folder: Path, parent: Path, field: str | None) -> None:
        # This module, run as a script: the library's continue_training in a process
        # of its own, so that its CPU time and memory leave the server's alone.
        job = [str(folder / "export.json"), str(parent), str(folder / "run")]
        job += [str(self.settings.epochs), field or ""]
        command = [sys.executable, "-m", "eqn.service.training", *job]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        loop = asyncio.get_running_loop()
        started = time.time()
        try:
            done = await loop.run_in_executor(
                None, _low_priority_run, command, env, folder, self.settings.timeout_s
            )
            verdict = await self._adopt(folder, done)
        except Exception as error:  # the job's failure is recorded, the service goes on
            logger.exception("training job for project %s failed", project)
            verdict = {"accepted": False, "reason": f"{type(error).__name__}: {error}"}
        line = {
            "project": project,
            "folder": str(folder),
            "seconds": round(time.time() - started, 1),
            "parent": str(parent),
            **verdict,
        }
        with (self.settings.versions_dir / LOG).open("a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")
        self._prune()

    async def _adopt(self, folder: Path, returncode: int) -> dict[str, Any]:
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
        self.holder.swap(loaded)
        return {"accepted": True, "model_version": loaded.model_hash, "held_out": scores}

    def _prune(self) -> None:
        """Keep the last ``keep`` job folders (the served one is always among them)."""
        folders = sorted(
            (f for p in self.settings.versions_dir.iterdir() if p.is_dir() for f in p.iterdir()),
            key=lambda f: f.name,
        )
        serving = str(self.holder.serving().model.source_ or "")
        for old in folders[: -self.settings.keep]:
            if not serving.startswith(str(old)):
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


def _job(export: str, parent: str, out: str, epochs: str, field: str) -> None:
    """One training job (the subprocess): continue ``parent`` on ``export`` into ``out``."""
    from eqn.data.label_studio import read_export
    from eqn.experiments.continued import annotated_data, continue_training
    from eqn.model.estimator import EQN

    model = EQN.load(parent, device="cpu")
    tasks = read_export(Path(export), field or None)
    data = annotated_data(tasks, model.labels, 0.2, 0, export)
    continue_training(model, data, Path(out), int(epochs), force=True, progress=False)


if __name__ == "__main__":
    _job(*sys.argv[1:6])
