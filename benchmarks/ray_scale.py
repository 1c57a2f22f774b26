"""The Ray engine against the local engine on generated rows: rows/s and peak memory.

The sentences are generated from fragments written for this benchmark (no
dataset text; see ``scale_annotate.py``). Each engine runs ``eqn annotate`` in a
child process on the same file; peak memory is the largest sum of the resident
memory of that process and all its descendants (Ray's raylet and actors
included), sampled every 0.2 s. The two outputs are compared byte for byte.

    python benchmarks/ray_scale.py --rows 200000 --out benchmarks/results/ray_scale.json
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_annotate import write_sentences  # noqa: E402


def run(command: list[str]) -> tuple[float, float]:
    """Seconds and peak MiB of the process tree of ``command``."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.2)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read().decode()[-500:]}")
    return time.perf_counter() - started, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--model", default=None, help="Model folder (default: the shipped one).")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/ray_scale.json"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "in" / "generated.csv"
        source.parent.mkdir()
        write_sentences(source, args.rows)
        base = [sys.executable, "-m", "eqn", "annotate", str(source.parent), "--no-progress"]
        if args.model:
            base += ["--model", args.model]
        # Warm-up: the ONNX export is cached once, outside the timings.
        warm = Path(folder) / "warm"
        warm.mkdir()
        write_sentences(warm / "w.csv", 50)
        subprocess.run([*base[:4], str(warm), "-o", str(Path(folder) / "w")], check=True)
        for engine in ("local", "ray"):
            target = Path(folder) / engine
            seconds, peak = run([*base, "--engine", engine, "-o", str(target)])
            row = {
                "engine": engine,
                "rows": args.rows,
                "seconds": round(seconds, 1),
                "rows_per_s": round(args.rows / seconds, 1),
                "peak_rss_mib": round(peak),
            }
            print(json.dumps(row), flush=True)
            results.append(row)
        same = filecmp.cmp(
            Path(folder) / "local" / "generated.eqn.csv",
            Path(folder) / "ray" / "generated.eqn.csv",
            shallow=False,
        )
    record = {
        "command": f"python benchmarks/ray_scale.py --rows {args.rows}"
        + (f" --model {args.model}" if args.model else ""),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, CPU only; a local Ray "
        "cluster on the same machine",
        "runtime": "auto (onnx, fp32)",
        "outputs_identical": same,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
