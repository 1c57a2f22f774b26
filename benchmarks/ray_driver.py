"""The Ray driver's ceiling and memory: today's chunk engine (the driver reads and writes
every row) against the Ray Data path (``--layout blocks``: the workers do).

With the zeros model (``zeros_model.py``: zero energies at no cost) the rows/s measure
everything but the model: reading, moving rows, writing. Each run is its own driver
process on a fresh local Ray cluster; its peak memory is that process's alone (Ray's
workers and object store are not in it). ``--real N`` adds the shipped model (default
runtime) on the blocks path on N rows.

    python benchmarks/ray_driver.py --rows 200000 1000000 --real 200000 \
        --out benchmarks/results/ray_driver.json
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def one_run(engine: str, source: Path, target: Path, real: bool) -> dict[str, float]:
    """One driver: annotate ``source`` with ``engine``; seconds and this process's peak MiB."""
    import ray
    import zeros_model

    from eqn.annotation.files import annotate_file
    from eqn.annotation.options import AnnotateOptions
    from eqn.annotation.ray_data import RayDataEngine, SavedModel, annotate_blocks
    from eqn.annotation.ray_engine import RayEngine
    from eqn.model.runtime import load_model

    ray.init(include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(zeros_model)
    model = load_model() if real else zeros_model.ZerosModel()
    options = AnnotateOptions(progress=False)
    started = time.perf_counter()
    if engine == "blocks":
        loader = SavedModel(None, model.runtime) if real else zeros_model.ZerosLoader()
        blocks = RayDataEngine(loader)
        rows = annotate_blocks(model, [str(source)], str(target), options, blocks).rows
    else:
        loader = None if real else zeros_model.ZerosLoader()
        chunks = RayEngine(None, model.runtime, "cpu", loader=loader)
        rows = annotate_file(model, source, target, options, engine=chunks).rows
        chunks.close()
    seconds = time.perf_counter() - started
    ray.shutdown()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": rows, "seconds": round(seconds, 1), "driver_peak_rss_mib": round(peak)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--engines", nargs="+", default=["chunks", "blocks"])
    parser.add_argument("--real", type=int, default=0, help="rows for the shipped model (0: none)")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one", nargs=4, metavar=("ENGINE", "SOURCE", "TARGET", "REAL"))
    args = parser.parse_args()
    if args.one:
        engine, source, target, real = args.one
        print(json.dumps(one_run(engine, Path(source), Path(target), real == "real")))
        return
    from scale_annotate import write_sentences

    plan = [(rows, engine, "zeros") for rows in args.rows for engine in args.engines]
    if args.real:
        plan.append((args.real, "blocks", "real"))
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for rows, engine, model in plan:
            source = Path(folder) / f"in{rows}.csv"
            if not source.exists():
                write_sentences(source, rows)
            target = Path(folder) / f"out-{engine}-{model}-{rows}"
            command = [sys.executable, __file__, "--one", engine, str(source), str(target), model]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{engine} on {rows} rows failed: {done.stderr[-1500:]}")
            row = {"engine": engine, "model": model, **json.loads(done.stdout.splitlines()[-1])}
            row["rows_per_s"] = round(row["rows"] / row["seconds"], 1)
            print(json.dumps(row), flush=True)
            results.append(row)
    record = {
        "command": "python benchmarks/ray_driver.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, CPU only; a local Ray "
        "cluster on the same machine",
        "results": results,
    }
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
