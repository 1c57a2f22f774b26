"""The README's commands work as pasted.

The first two blocks (install and annotate; run the tests) are what ``.ci/run``
executes. Here every other command of the README and of the pages it links
(docs/training.md first, whose models the others use) runs in a scratch folder
holding the files they name, with this virtual environment's ``bin`` first on
the PATH (as after ``. .venv/bin/activate``), and the Python examples run as
scripts. Training commands run for real on ``tests/fixtures/emotions.csv`` (62
written sentences), in quick mode: ``--max-train 32 --max-eval 16 --epochs 1``.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, SENTENCES

README = ROOT / "README.md"
# The pages the README links to: their commands must work as pasted too.
TRAINING, USAGE = ROOT / "docs" / "training.md", ROOT / "docs" / "usage.md"
FIXTURE = ROOT / "tests" / "fixtures" / "emotions.csv"
# What makes a documented training command tiny here (the last --epochs wins).
QUICK = {
    "eqn train": " --max-train 32 --max-eval 16 --epochs 1",
    "eqn compare": " --max-train 32 --max-eval 16 --epochs 1",
    "eqn evaluate": " --max-eval 16",
}
# Commands that need something this machine may not have, and what they must say then.
NEEDS = {
    "--device cuda": "sees no CUDA GPU",
    "pip install": None,  # installs: CI already installed everything
    "eqn serve": None,  # runs until stopped: tests/service covers it
}


def blocks(language: str, page: Path = README) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", page.read_text(encoding="utf-8"), re.M | re.S)


def commands() -> list[str]:
    found = []
    # Training first: the README and usage pages annotate with the model it trains.
    pages = blocks("bash", TRAINING) + blocks("bash")[2:] + blocks("bash", USAGE)
    for block in pages:  # the README's after the newcomer's two
        joined = block.replace("\\\n", " ")
        for line in joined.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command:
                found.append(command)
    return list(dict.fromkeys(found))  # a command shown on two pages runs once


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    import shutil

    folder = tmp_path_factory.mktemp("readme")
    shutil.copy(FIXTURE, folder / "mine.csv")
    with FIXTURE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with (folder / "survey.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["answer", "feelings"])
        writer.writerows([r["text"], r["labels"].replace(",", "|")] for r in rows)
    with (folder / "ratings.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)  # graded: how many of 3 raters chose each label
        writer.writerow(["text", "joy", "anger", "fear"])
        for i, r in enumerate(rows):
            votes = [(3 - i % 2) * (name in r["labels"]) for name in ("joy", "anger", "fear")]
            writer.writerow([r["text"], *votes])
    (folder / "notes.txt").write_text("\n".join(t for t, _ in SENTENCES[:4]) + "\n", "utf-8")
    with (folder / "reviews.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "body"])
        writer.writerows(enumerate(t for t, _ in SENTENCES))
    export = [  # a Label Studio export: two annotators, the second choosing one label
        {
            "id": i,
            "data": {"body": text},
            "annotations": [
                {"completed_by": who, "result": [{"type": "choices", "value": {"choices": chosen}}]}
                for who, chosen in ((1, labels.split(",")), (2, labels.split(",")[:1]))
            ],
        }
        for i, (text, labels) in enumerate(SENTENCES)
    ]
    (folder / "export.json").write_text(json.dumps(export), "utf-8")
    (folder / "data").mkdir()
    with (folder / "data" / "part.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["text"], *[[t] for t, _ in SENTENCES]])
    return folder


def run(command: str, folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_readme_has_usage_commands():
    assert len(commands()) >= 10
    tests = blocks("bash")[1]
    assert tests.strip().endswith(".venv/bin/python -m pytest -q")
    for gate in ("ruff check .", "ruff format --check .", "mypy", "lint-imports"):
        assert gate in tests


@pytest.mark.parametrize("command", commands())
def test_each_readme_command_works_as_pasted(command, scratch):
    need = next((key for key in NEEDS if key in command), None)
    if need is not None and NEEDS[need] is None:
        pytest.skip(f"{need!r}: see NEEDS")
    quick = next((flags for start, flags in QUICK.items() if command.startswith(start)), "")
    if " --from " in command:
        quick = ""  # one fine-tuning stage on the small export; --from refuses subset options
    result = run(command + quick, scratch)
    if need is not None and result.returncode != 0:
        assert NEEDS[need] in result.stderr, result.stderr
        return
    assert result.returncode == 0, f"{command}\n{result.stdout[-800:]}\n{result.stderr[-1500:]}"


@pytest.mark.parametrize("example", blocks("python") + blocks("python", USAGE))
def test_the_python_examples_run(scratch, example):
    result = subprocess.run(
        [sys.executable, "-c", example],
        cwd=scratch,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
