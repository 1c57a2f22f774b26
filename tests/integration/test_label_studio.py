"""A real Label Studio (1.23, its own virtual environment) with eqn as its ML backend:
predictions stored, two annotators, training, a new model_version."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def label_studio_venv(tmp_path_factory) -> Path:
    """``EQN_LABEL_STUDIO_VENV`` if set, else a fresh venv with label-studio (~5 minutes)."""
    given = os.environ.get("EQN_LABEL_STUDIO_VENV")
    if given:
        return Path(given)
    venv = tmp_path_factory.mktemp("ls") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "pip"), "install", "-q", "label-studio==1.23.*"]
    installed = subprocess.run(pip, capture_output=True, text=True, timeout=1800)
    if installed.returncode != 0:
        pytest.skip(f"label-studio could not be installed: {installed.stderr[-300:]}")
    return venv


def test_a_label_studio_round_trip(label_studio_venv, tmp_path):
    script = ROOT / "benchmarks" / "label_studio_roundtrip.py"
    result = subprocess.run(
        [sys.executable, str(script), "--ls-venv", str(label_studio_venv)],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "the next predictions carry a new model_version" in result.stdout
