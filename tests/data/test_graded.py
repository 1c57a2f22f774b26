"""Graded labels (beyond the paper): a numeric column per label, with a declared scale."""

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from eqn.cli import app
from eqn.core.energy import full_labels, label_regression
from eqn.data import ReaderOptions, read_table
from eqn.errors import InputError

LABELS = ("joy", "anger", "fear")
ROWS = [
    ("What a wonderful morning", 3, 0, 0),
    ("I am so angry and a bit scared", 0, 2, 1),
    ("Meh, fine I guess", 1, 0, 0),
    ("This terrifies me", 0, 0, 3),
    ("Furious, absolutely furious", 0, 3, 0),
    ("Happy but nervous", 2, 0, 1),
]


@pytest.fixture
def graded_csv(tmp_path):
    path = tmp_path / "graded.csv"
    pd.DataFrame(ROWS, columns=["text", *LABELS]).to_csv(path, index=False)
    return path


def options(scale=3):
    return ReaderOptions(intensity_columns=LABELS, intensity_scale=scale)


def test_graded_columns_become_intensities_and_full_labels(graded_csv):
    data = read_table(graded_csv, options())
    assert data.labels == LABELS
    np.testing.assert_allclose(data.intensity[1], [0, 2 / 3, 1 / 3], rtol=1e-6)
    np.testing.assert_array_equal(data.gold[1], [False, True, True])
    targets = full_labels(data.gold, 10.0, data.intensity)
    np.testing.assert_allclose(targets[1], [0, 20 / 3, 10 / 3], rtol=1e-6)
    np.testing.assert_allclose(targets[0], [10, 0, 0])
    # eq. 3 puts human labels back to their graded value, not to 10
    regressed = label_regression(data.gold, np.full(data.gold.shape, 5.0), 10.0, data.intensity)
    np.testing.assert_allclose(regressed[2], [10 / 3, 5, 5], rtol=1e-6)
    assert data.subset([1]).intensity.shape == (1, 3)


@pytest.mark.parametrize("value, scale", [("4", 3), ("-1", 3), ("lots", 3), ("2", 1)])
def test_out_of_scale_or_non_numeric_values_name_the_line(graded_csv, value, scale):
    frame = pd.read_csv(graded_csv, dtype=str)
    frame.loc[2, "anger"] = value
    frame.to_csv(graded_csv, index=False)
    with pytest.raises(InputError, match=r"line \d+: 'anger|line \d+: 'joy|numbers from 0 to"):
        read_table(graded_csv, options(scale))


def test_graded_options_are_checked():
    with pytest.raises(InputError, match="need both"):
        ReaderOptions(intensity_columns=LABELS)
    with pytest.raises(InputError, match="positive number"):
        ReaderOptions(intensity_columns=LABELS, intensity_scale=0)


def test_train_on_graded_labels_from_the_cli(graded_csv, tmp_path):
    big = pd.concat([pd.read_csv(graded_csv)] * 5, ignore_index=True)
    big.to_csv(graded_csv, index=False)
    result = CliRunner().invoke(
        app,
        [
            "train",
            str(graded_csv),
            "--labels",
            ",".join(LABELS),
            "--graded",
            "3",
            "--backbone",
            "lstm",
            "--epochs",
            "1",
            "--stage",
            "coeqn",
            "-o",
            str(tmp_path / "run"),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "coeqn" / "config.json").is_file()
    missing = CliRunner().invoke(app, ["info", str(graded_csv), "--graded", "3"])
    assert missing.exit_code == 2 and "--labels" in missing.output
