"""Load test of ``eqn serve`` on 127.0.0.1 only.

Starts the server with the given model, waits for /healthz, then sends
``--requests`` requests of 1-8 GoEmotions test texts each (seeded) from
``--clients`` concurrent clients. Reports texts/s, p50/p99 latency and errors,
and, in the same run, ``eqn annotate`` on the same texts for comparison.

    python benchmarks/serve_load.py --model src/eqn/models/goemotions-minilm-eqn \
        --out benchmarks/results/serve_load.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def load(base: str, batches: list[list[str]], clients: int) -> tuple[list[float], int]:
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)
    latencies: list[float] = []
    errors = 0

    async def client() -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=120) as http:
            while not queue.empty():
                texts = queue.get_nowait()
                started = time.perf_counter()
                try:
                    response = await http.post("/v1/annotate", json={"texts": texts})
                    if response.status_code != 200:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="src/eqn/models/goemotions-minilm-eqn")
    parser.add_argument("--data-dir", default="../shared/data/goemotions")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/serve_load.json"))
    args = parser.parse_args()

    from eqn.data import load_dataset

    pool = load_dataset("goemotions", data_dir=args.data_dir).test.texts
    rng = np.random.default_rng(0)
    batches = [
        [pool[i] for i in rng.choice(len(pool), size=int(rng.integers(1, 9)), replace=False)]
        for _ in range(args.requests)
    ]
    n_texts = sum(len(b) for b in batches)

    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eqn",
            "serve",
            "--model",
            args.model,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            raise SystemExit("the server did not become ready in 120 s")
        started = time.perf_counter()
        latencies, errors = asyncio.run(load(base, batches, args.clients))
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    # The batch path on the same texts, in the same run.
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "texts.csv"
        pd.DataFrame({"text": [t for b in batches for t in b]}).to_csv(source, index=False)
        begun = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "eqn",
                "annotate",
                str(source),
                "--model",
                args.model,
                "--no-progress",
            ],
            check=True,
            env={**os.environ},
            capture_output=True,
        )
        cli_seconds = time.perf_counter() - begun

    from eqn.annotation.texts import annotate_texts
    from eqn.model.runtime import load_model  # the default runtime, as the server uses

    model = load_model(args.model)
    flat = [t for b in batches for t in b]
    begun = time.perf_counter()
    annotate_texts(model, flat)
    batch_seconds = time.perf_counter() - begun

    record = {
        "command": f"python benchmarks/serve_load.py --model {args.model} --requests "
        f"{args.requests} --clients {args.clients}",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, CPU only, loopback",
        "requests": args.requests,
        "clients": args.clients,
        "texts": n_texts,
        "seconds": round(seconds, 2),
        "texts_per_s": round(n_texts / seconds, 1),
        "requests_per_s": round(args.requests / seconds, 1),
        "latency_p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
        "latency_p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 1),
        "errors": errors,
        "batch_path_texts_per_s": round(n_texts / batch_seconds, 1),
        "server_share_of_batch_path": round(n_texts / seconds / (n_texts / batch_seconds), 3),
        "eqn_annotate_cli_seconds_incl_start": round(cli_seconds, 2),
        "eqn_annotate_cli_texts_per_s_incl_start": round(n_texts / cli_seconds, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
