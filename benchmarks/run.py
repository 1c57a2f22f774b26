"""One entry point for the benchmarks: the speed suite, stamped, and the research workflows.

    python benchmarks/run.py list
    python benchmarks/run.py speed [NAME ...]        # run speed benchmarks, stamp each result
    python benchmarks/run.py workflow NAME [--run]   # print (or run) a research chain's steps

Every speed result gets a ``stamp``: the eqn version, the git commit (and whether the
tree had uncommitted changes), the model (name and hash), the runtime it ran on,
the machine and the time. The research workflows take hours on a CPU; they are
declared here, step by step, so that each published table has one recipe.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SHIPPED = "src/eqn/models/goemotions-minilm-eqn"
DATA = "../shared/data/goemotions"

# name: (command, result file, what it measures). Each runs on a quiet machine.
SPEED: dict[str, tuple[str, str, str]] = {
    "annotate": (
        f"python benchmarks/annotate_throughput.py --model {SHIPPED} --data-dir {DATA}",
        "annotate_throughput.json",
        "annotation texts/s on GoEmotions test: eqn (default runtime), a 28pd.py-style loop, "
        "the bare encoder",
    ),
    "runtimes": (
        f"python benchmarks/runtimes.py --data-dir {DATA} --recipes",
        "runtimes.json",
        "torch, ONNX fp32 and int8 on GoEmotions dev + test: texts/s and quality",
    ),
    "int8-static": (
        f"python benchmarks/int8_static.py --data-dir {DATA}",
        "int8_static.json",
        "batch-independent int8 (activations per token; static ranges fixed on dev) "
        "against per-batch dynamic int8 and fp32: speed, quality, batch independence",
    ),
    "ray-driver": (
        "python benchmarks/ray_driver.py --rows 200000 1000000 --real 200000 "
        "--out benchmarks/results/ray_driver.json",
        "ray_driver.json",
        "the Ray driver's ceiling (zeros model) and memory: chunk engine against Ray Data blocks",
    ),
    "gpu": (
        f"python benchmarks/gpu_throughput.py --data-dir {DATA} "
        "--out benchmarks/results/gpu_throughput.json",
        "gpu_throughput.json",
        "GPU annotation: texts/s end to end and the bare encoder's, fp32/fp16/bf16, drift vs fp32",
    ),
    "serve": (
        f"python benchmarks/serve_load.py --model {SHIPPED} --data-dir {DATA}",
        "serve_load.json",
        "2,000 requests of 1-8 texts from 32 clients against the default eqn serve",
    ),
    "stream": (
        f"python benchmarks/scale_annotate.py --model {SHIPPED} --rows 10000,50000 "
        "--out benchmarks/results/scale_annotate_minilm.json",
        "scale_annotate_minilm.json",
        "eqn annotate on generated files: rows/s and peak memory",
    ),
    "ray": (
        "python benchmarks/ray_scale.py --rows 200000",
        "ray_scale.json",
        "--engine ray against the local engine on 200,000 generated rows",
    ),
    "train": (
        f"python benchmarks/train_throughput.py --data-dir {DATA}",
        "train_throughput.json",
        "training texts/s per backbone, bucketed against pad-to-128",
    ),
}

# name: (what it produces, the steps in order). Hours on 2 CPU cores; resumable steps.
WORKFLOWS: dict[str, tuple[str, list[str]]] = {
    "energy-validity": (
        "the shipped model (ensemble-teacher student), its second seed, the choice among "
        "candidates, the model card: results/energy_validity.md, results/default_model/",
        [
            'SEEDS="0 1 2" bash benchmarks/energy_teachers.sh',
            "SEED=0 bash benchmarks/energy_student.sh",
            "SEED=1 bash benchmarks/energy_student.sh",
            "python benchmarks/energy_validity.py ...  # the full command heads "
            "results/energy_validity.md",
            "python benchmarks/calibration_methods.py",
            "python benchmarks/model_card.py --run runs/energy/student_seed0 --stage eqn",
        ],
    ),
    "single-label": (
        "S against CoEQN and EQN on 6emotions, one factor at a time, three seeds: "
        "results/single_label.md",
        [
            "bash benchmarks/single_label_grid.sh",
            "python benchmarks/summarize_single_label.py",
        ],
    ),
    "table3": (
        "the paper's Table 3, five backbones, 6emotions and GoEmotions: results/table3_*.md",
        [
            "EQN_DATA_DIR=../shared/data EPOCHS=3 bash benchmarks/default_model.sh",
            "bash benchmarks/table3.sh",
        ],
    ),
    "variants": (
        "loss, imbalance and label-regression variants at pilot scale: results/variants.md, "
        "results/relabel_variants.md",
        ["bash benchmarks/variants.sh", "bash benchmarks/relabel_variants.sh"],
    ),
}


def _git(*args: str) -> str:
    result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return result.stdout.strip()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def uncommitted() -> bool:
    """Whether tracked files differ from the commit (taken before a run rewrites its result)."""
    return bool(_git("status", "--porcelain", "--untracked-files=no"))


def stamp(command: str, dirty: bool | None = None) -> dict[str, Any]:
    """Who, what and where a result was measured with."""
    import eqn
    from eqn.model.runtime import load_model

    model = load_model(ROOT / SHIPPED)
    versions = {}
    for package in ("torch", "onnxruntime", "transformers"):
        try:
            versions[package] = __import__(package).__version__
        except ImportError:
            versions[package] = None
    return {
        "eqn_version": eqn.__version__,
        "git_commit": _git("rev-parse", "HEAD"),
        "uncommitted_changes": uncommitted() if dirty is None else dirty,
        "model": model.name,
        "model_hash": model.model_hash,
        "default_runtime": model.runtime,
        "machine": {
            "arch": platform.machine(),
            "cpu_cores": os.cpu_count(),
            "memory_gib": _memory_gib(),
            "gpu": "none seen" if not Path("/dev/nvidiactl").exists() else "present",
            "python": platform.python_version(),
            **versions,
        },
        "command": command,
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_speed(names: list[str]) -> int:
    unknown = sorted(set(names) - set(SPEED))
    if unknown:
        print(f"unknown speed benchmark {', '.join(unknown)}; choose {', '.join(SPEED)}")
        return 2
    for name in names or list(SPEED):
        command, result, _ = SPEED[name]
        print(f"== {name}: {command}", flush=True)
        dirty = uncommitted()  # before the run rewrites its own (tracked) result file
        argv = shlex.split(command)
        done = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT)  # this environment's python
        if done.returncode != 0:
            print(f"{name} failed with status {done.returncode}", file=sys.stderr)
            return done.returncode
        path = RESULTS / result
        record = json.loads(path.read_text())
        record["stamp"] = stamp(command, dirty)
        staging = path.with_suffix(".json.tmp")
        staging.write_text(json.dumps(record, indent=2) + "\n")
        staging.replace(path)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("list")
    speed = sub.add_parser("speed")
    speed.add_argument("names", nargs="*", metavar="NAME", help=", ".join(SPEED))
    flow = sub.add_parser("workflow")
    flow.add_argument("name", choices=list(WORKFLOWS))
    flow.add_argument("--run", action="store_true", help="run the steps (hours), not print")
    args = parser.parse_args()
    if args.what == "list":
        for name, (_, result, what) in SPEED.items():
            print(f"speed {name:9} {what} -> results/{result}")
        for name, (what, _) in WORKFLOWS.items():
            print(f"workflow {name:15} {what}")
        return 0
    if args.what == "speed":
        return run_speed(args.names)
    what, steps = WORKFLOWS[args.name]
    print(f"# {args.name}: {what}")
    for step in steps:
        print(step)
        runnable = args.run and "..." not in step  # a step with "..." is written out in full
        if runnable and subprocess.run(["bash", "-c", step], cwd=ROOT).returncode != 0:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
