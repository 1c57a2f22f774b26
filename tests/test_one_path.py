"""One annotation path: the CLI, the Python API and the HTTP API give the same
label sets and energies for the same texts, at the model's threshold and at a
threshold exactly equal to a shown energy."""

import csv
import itertools

import pytest
from typer.testing import CliRunner

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from eqn.cli import app  # noqa: E402
from eqn.model.estimator import EQN  # noqa: E402
from eqn.service import create_app  # noqa: E402
from tests.conftest import SENTENCES  # noqa: E402

runner = CliRunner()
PREFIXES = ["", "Honestly, ", "Well... ", "Today "]
TEXTS = [p + t for p, (t, _) in itertools.product(PREFIXES, SENTENCES)][:40] + [
    "",
    "word " * 30,
    *[t.upper() for t, _ in SENTENCES],
    *[t.lower().rstrip("!.?") for t, _ in SENTENCES[:6]],
]


def label_set(macro: str, micro: list[str]) -> set[str]:
    return ({macro} | set(micro)) - {""}


def from_cli(model_dir, tmp_path, *extra):
    source, out = tmp_path / "in.csv", tmp_path / f"out{len(extra)}.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["text"], *[[t] for t in TEXTS]])
    result = runner.invoke(
        app,
        [
            "annotate",
            str(source),
            "-o",
            str(out),
            "--model",
            str(model_dir),
            "--force",
            "--no-progress",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(newline="", encoding="utf-8")))
    return [
        (
            label_set(
                r["macro_emotion"], [p.split(":")[0] for p in r["micro_emotions"].split(";")]
            ),
            r,
        )
        for r in rows
    ]


def from_http(client, threshold=None, raw=False):
    body = {"texts": TEXTS, "raw": raw} | ({} if threshold is None else {"threshold": threshold})
    results = []
    for start in range(0, len(TEXTS), 8):  # the test app's request limit
        part = body | {"texts": TEXTS[start : start + 8]}
        response = client.post("/v1/annotate", json=part)
        assert response.status_code == 200, response.text
        results += response.json()["results"]
    return [
        (label_set(r["macro_emotion"], [m["label"] for m in r["micro_emotions"]]), r)
        for r in results
    ]


def from_python(model, threshold=None):
    frame = model.annotate(TEXTS, threshold=threshold)
    return [
        (label_set(r.macro_emotion, [p.split(":")[0] for p in r.micro_emotions.split(";")]), r)
        for r in frame.itertuples(index=False)
    ]


@pytest.fixture(params=["shipped", "lstm"])
def model_and_dir(request, tiny_model_dir):
    """The shipped model on the default runtime, as users meet it, and a torch model."""
    if request.param == "lstm":
        return EQN.load(tiny_model_dir), tiny_model_dir
    import eqn
    from eqn.model.inference import DEFAULT_MODEL_DIR

    return eqn.load(), DEFAULT_MODEL_DIR


def test_cli_python_and_http_agree(model_and_dir, tmp_path):
    from eqn.service import ServiceLimits

    model, model_dir = model_and_dir
    limits = ServiceLimits(max_texts=8)
    raw_cli = from_cli(model_dir, tmp_path, "--raw")
    # a threshold equal to a shown energy: the third-highest written energy of a text
    shown = sorted((float(raw_cli[0][1][label]) for label in model.labels), reverse=True)
    at_shown = shown[2]
    with TestClient(create_app(model=model, limits=limits)) as client:
        for threshold, extra in ((None, ()), (at_shown, ("--threshold", str(at_shown)))):
            cli = from_cli(model_dir, tmp_path, *extra)
            http = from_http(client, threshold)
            python = from_python(model, threshold)
            assert len(cli) == len(http) == len(python) == len(TEXTS)
            for (a, row), (b, record), (c, _) in zip(cli, http, python, strict=True):
                assert a == b == c, (threshold, row["text"])
                for label in model.labels:
                    assert abs(float(row[label]) - record["energies"][label]) <= 0.005
        raw_http = from_http(client, raw=True)
    for (_, row), (_, record) in zip(raw_cli, raw_http, strict=True):
        assert all(abs(float(row[lbl]) - record["energies"][lbl]) <= 0.005 for lbl in model.labels)
