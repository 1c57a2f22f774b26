"""The long fuzz of the readers and the file annotator: no crash, no wrong output."""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration
# Five times the published run (benchmarks/results/fuzz.md), with another seed.
ARGS = ["--annotate", "3000", "--read", "8000", "--seed", "11"]


def test_the_long_fuzz_finds_no_crash_and_no_wrong_output():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "fuzz_inputs.py"), *ARGS],
        capture_output=True,
        text=True,
        timeout=3600,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "| file annotator | 3000 |" in result.stdout
