"""One review-loop training job, run by :class:`eqn.service.training.TrainingJobs` in a
subprocess: ``python -m eqn.service.training_job EXPORT PARENT OUT EPOCHS FIELD``.

A module of its own, which the service package never imports, so that running it as a
script does not import it twice.
"""

from __future__ import annotations

import sys
from pathlib import Path


def run_job(export: str, parent: str, out: str, epochs: str, field: str) -> None:
    """One training job (the subprocess): continue ``parent`` on ``export`` into ``out``."""
    from eqn.data.label_studio import read_export
    from eqn.experiments.continued import annotated_data, continue_training
    from eqn.model.estimator import EQN

    model = EQN.load(parent, device="cpu")
    tasks = read_export(Path(export), field or None)
    data = annotated_data(tasks, model.labels, 0.2, 0, export)
    continue_training(model, data, Path(out), int(epochs), force=True, progress=False)


if __name__ == "__main__":
    run_job(*sys.argv[1:6])
