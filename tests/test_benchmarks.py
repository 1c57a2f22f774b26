"""The benchmark runner: its list, its workflows and the stamp on every speed result."""

import subprocess
import sys

from tests.conftest import ROOT

RUNNER = ROOT / "benchmarks" / "run.py"


def test_the_runner_lists_speed_benchmarks_and_workflows():
    listed = subprocess.run(
        [sys.executable, str(RUNNER), "list"], capture_output=True, text=True, check=True
    ).stdout
    for name in ("speed annotate", "speed serve", "workflow energy-validity", "workflow table3"):
        assert name in listed


def _runner():
    sys.path.insert(0, str(RUNNER.parent))
    try:
        import run
    finally:
        sys.path.pop(0)
    return run


def test_every_step_names_a_script_that_exists():
    run = _runner()
    for command, _, _ in run.SPEED.values():
        assert (ROOT / command.split()[1]).is_file(), command
    for _, steps in run.WORKFLOWS.values():
        for step in steps:
            script = next(word for word in step.split() if word.startswith("benchmarks/"))
            assert (ROOT / script).is_file(), step


def test_a_stamp_says_what_and_where():
    stamp = _runner().stamp("python benchmarks/x.py")
    assert stamp["model"] == "goemotions-minilm-eqn" and len(stamp["model_hash"]) == 16
    assert stamp["default_runtime"] == "onnx" and stamp["machine"]["cpu_cores"] >= 1
    assert len(stamp["git_commit"]) in (0, 40) and stamp["eqn_version"]
