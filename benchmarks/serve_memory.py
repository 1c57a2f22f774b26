"""``eqn serve`` under explanations and uploads: its memory, and a text request's latency.

Starts ``eqn serve`` (the shipped model, default runtime) on 127.0.0.1, waits until the
explainer's torch model has loaded (it loads at start), then sends 20 explanations and
20 CSV uploads of 200 generated sentences, one after another, sampling the server's
resident memory after each. Meanwhile a one-text ``/v1/annotate`` runs every second;
its latencies are reported. The issue's bound: RSS grows by less than 50 MB from the
2nd request to the 20th.

    python benchmarks/serve_memory.py --out benchmarks/results/serve_memory.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

HERE = Path(__file__).resolve().parent
TEXTS = [
    "I can't believe how kind everyone was today, thank you all!",
    "This is the third time my order got lost, I'm furious.",
    "Honestly not sure what to think about the ending.",
    "I miss the old days so much.",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def upload_body(rows: int) -> str:
    sys.path.insert(0, str(HERE))
    import tempfile

    from scale_annotate import write_sentences

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "u.csv"
        write_sentences(path, rows)
        return path.read_text()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "eqn", "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    process = psutil.Process(server.pid)
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=base, timeout=300) as http:
            while not stop.is_set():
                started = time.perf_counter()
                http.post("/v1/annotate", json={"texts": ["What a lovely surprise!"]})
                latencies.append(time.perf_counter() - started)
                time.sleep(1.0)

    try:
        with httpx.Client(base_url=base, timeout=600) as http:
            for _ in range(600):
                try:
                    if http.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            started = time.perf_counter()
            http.post("/v1/explain", json={"text": "warm up"})  # waits for the preloaded twin
            warm_seconds = time.perf_counter() - started
            prober = threading.Thread(target=probe, daemon=True)
            prober.start()
            body = upload_body(200)
            rss: dict[str, list[float]] = {"explain": [], "upload": []}
            seconds: dict[str, list[float]] = {"explain": [], "upload": []}
            for i in range(args.requests):
                started = time.perf_counter()
                answer = http.post("/v1/explain", json={"text": TEXTS[i % len(TEXTS)]})
                assert answer.status_code == 200, answer.text
                seconds["explain"].append(time.perf_counter() - started)
                rss["explain"].append(process.memory_info().rss / 2**20)
            for _ in range(args.requests):
                started = time.perf_counter()
                files = {"file": ("u.csv", body, "text/csv")}
                answer = http.post("/v1/annotate/csv", files=files)
                assert answer.status_code == 200, answer.text
                seconds["upload"].append(time.perf_counter() - started)
                rss["upload"].append(process.memory_info().rss / 2**20)
            stop.set()
            prober.join()
    finally:
        server.terminate()
        server.wait()
    latencies.sort()
    result = {
        "command": "python benchmarks/serve_memory.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, CPU only",
        "first_explanation_seconds_after_start": round(warm_seconds, 1),
        "explain_seconds_median": round(
            sorted(seconds["explain"])[len(seconds["explain"]) // 2], 2
        ),
        "upload_seconds_median": round(sorted(seconds["upload"])[len(seconds["upload"]) // 2], 2),
        "rss_mib": {k: [round(v) for v in values] for k, values in rss.items()},
        "rss_growth_mib_2nd_to_last": {k: round(v[-1] - v[1], 1) for k, v in rss.items()},
        "annotate_latency_s": {
            "requests": len(latencies),
            "median": round(latencies[len(latencies) // 2], 3),
            "max": round(latencies[-1], 3),
        },
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
