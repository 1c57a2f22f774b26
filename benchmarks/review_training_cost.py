"""What one review-loop training job costs on this machine: the job `eqn serve
--allow-training` runs (``python -m eqn.service.training_job``: continue the served model
on a Label Studio export, one epoch, one thread, nice 10), on N reviewed texts.

    python benchmarks/review_training_cost.py --data-dir ../shared/data/goemotions \
        --sizes 200 1000 3000 --out benchmarks/results/review_training_cost.json

The reviewed texts are the first N GoEmotions training texts, each annotated once with
its gold labels (a Label Studio export written to a scratch folder, never committed).
Reports wall seconds (model loading included) and the job's peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from eqn.data import load_dataset
from eqn.model.estimator import default_model_dir


def export(texts: list[str], labels: list[list[str]]) -> list[dict[str, object]]:
    return [
        {
            "id": i,
            "data": {"text": text},
            "annotations": [
                {"completed_by": 1, "result": [{"type": "choices", "value": {"choices": chosen}}]}
            ],
        }
        for i, (text, chosen) in enumerate(zip(texts, labels, strict=True))
    ]


def job(folder: Path, epochs: int) -> dict[str, float]:
    command = [sys.executable, "-m", "eqn.service.training_job", str(folder / "export.json")]
    command += [str(default_model_dir()), str(folder / "run"), str(epochs), ""]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = time.perf_counter()
    subprocess.run(command, env=env, check=True, preexec_fn=lambda: os.nice(10))  # noqa: PLW1509
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    record = json.loads((folder / "run" / "run.json").read_text())
    return {
        "seconds": round(seconds, 1),
        "peak_rss_mib_so_far": round(peak),
        "held_out_macro_f1": record["held_out_macro_f1"],
        "calibration_and_h": record["calibration_and_h"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000, 3000])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    train = load_dataset("goemotions", data_dir=args.data_dir).train
    results = []
    for size in args.sizes:
        rows = list(range(size))
        texts = [train.texts[i] for i in rows]
        chosen = [[train.labels[j] for j in train.gold[i].nonzero()[0]] for i in rows]
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            (folder / "export.json").write_text(json.dumps(export(texts, chosen)))
            results.append({"reviewed_texts": size, **job(folder, args.epochs)})
        print(json.dumps(results[-1]), flush=True)
    summary = {
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU; the job: "
        "one thread at nice 10, as eqn serve runs it",
        "epochs": args.epochs,
        "results": results,
    }
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
