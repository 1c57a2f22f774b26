"""``eqn label-studio-config``: the labeling configuration for a model's pre-annotations."""

from __future__ import annotations

import sys

from eqn.cli.common import ModelOpt, reporting_errors

NAME = "label-studio-config"


@reporting_errors
def command(model_path: ModelOpt = None) -> None:
    """Print the Label Studio labeling config (XML) that imports `--format label-studio` tasks."""
    from eqn.annotation.label_studio import labeling_config
    from eqn.data import read_label_names
    from eqn.model.estimator import DEFAULT_MODEL_DIR, EQN, LABELS_FILE

    folder = model_path or DEFAULT_MODEL_DIR
    labels = (
        read_label_names(folder / LABELS_FILE)
        if (folder / LABELS_FILE).is_file()
        else EQN.load(folder).labels
    )
    sys.stdout.write(labeling_config(labels))
