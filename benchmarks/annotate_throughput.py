"""Annotation throughput on the GoEmotions test split (5,427 texts), three ways:

* ``eqn``: ``eqn.annotation.texts.annotate_texts`` with the model as ``eqn.load`` gives
  it (the default runtime: int8 ONNX on the CPU), giving the full annotation table;
* ``28pd-style``: a loop written like the paper's ``28pd.py``: every text padded
  to 128 tokens, batches of 16 in file order, then one pandas ``apply`` per label
  column, with the same model;
* ``encoder-only``: the raw pretrained encoder's forward pass alone, with the same
  sorted dynamic batches: the compute ceiling.

Each runs in its own process, so each peak RSS is its own.

    python benchmarks/annotate_throughput.py --model src/eqn/models/goemotions-minilm-eqn \
        --out benchmarks/results/annotate_throughput.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import time
from pathlib import Path
from typing import Any


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_eqn(model_dir: str, texts: list[str]) -> dict[str, Any]:
    from eqn.annotation.texts import annotate_texts
    from eqn.model.runtime import load_model

    model = load_model(model_dir)  # the default runtime, as users get it
    annotate_texts(model, texts[:64])  # warm-up
    started = time.perf_counter()
    rows = len(annotate_texts(model, texts).texts)
    seconds = time.perf_counter() - started
    return {
        "texts_per_s": len(texts) / seconds,
        "seconds": seconds,
        "rows": rows,
        "runtime": model.runtime,
    }


def run_28pd(model_dir: str, texts: list[str]) -> dict[str, Any]:
    import numpy as np
    import pandas as pd
    import torch

    from eqn.model.estimator import load

    model = load(model_dir)
    module = model.model_
    tokenizer = module.backbone.tokenizer
    labels = list(model.labels)
    frame = pd.DataFrame({"text": texts})
    started = time.perf_counter()
    outputs = []
    with torch.inference_mode():
        for start in range(0, len(texts), 16):
            batch = tokenizer(
                texts[start : start + 16],
                padding="max_length",
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            raw = module(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            outputs.append(module.to_energies(raw).numpy())
    energies = np.concatenate(outputs)
    frame["energies"] = list(energies)
    for j, label in enumerate(labels):  # one apply per label column, as 28pd.py does
        frame[label] = frame["energies"].apply(lambda row, j=j: round(float(row[j]), 2))
    seconds = time.perf_counter() - started
    return {"texts_per_s": len(texts) / seconds, "seconds": seconds, "rows": len(frame)}


def run_encoder(model_dir: str, texts: list[str]) -> dict[str, Any]:
    import numpy as np
    import torch
    from transformers import AutoModel, AutoTokenizer

    from eqn.backbones.transformer import resolve_encoder

    config = json.loads((Path(model_dir) / "config.json").read_text())["config"]
    options = config["backbone_options"]
    source = resolve_encoder(options["model_name_or_path"])
    tokenizer = AutoTokenizer.from_pretrained(source)
    encoder = AutoModel.from_pretrained(source).eval()
    ids = tokenizer(texts, truncation=True, max_length=options["max_length"])["input_ids"]
    order = np.argsort([len(i) for i in ids], kind="stable")
    batch_size = config["eval_batch_size"]
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = [ids[i] for i in order[start : start + batch_size]]
            width = max(len(c) for c in chunk)
            input_ids = torch.zeros((len(chunk), width), dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, item in enumerate(chunk):
                input_ids[row, : len(item)] = torch.tensor(item)
                mask[row, : len(item)] = 1
            encoder(input_ids=input_ids, attention_mask=mask)
    seconds = time.perf_counter() - started
    return {"texts_per_s": len(texts) / seconds, "seconds": seconds, "rows": len(texts)}


RUNNERS = {"eqn": run_eqn, "28pd-style": run_28pd, "encoder-only": run_encoder}


def _child(name: str, model_dir: str, texts: list[str], queue: Any) -> None:
    result = RUNNERS[name](model_dir, texts)
    result["peak_rss_mib"] = round(_peak_mib())
    queue.put(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="src/eqn/models/goemotions-minilm-eqn")
    parser.add_argument("--data-dir", default="../shared/data/goemotions")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/annotate_throughput.json")
    )
    args = parser.parse_args()

    from eqn.data import load_dataset

    texts = load_dataset("goemotions", data_dir=args.data_dir).test.texts
    context = mp.get_context("spawn")
    results = {}
    for name in RUNNERS:
        queue = context.Queue()
        process = context.Process(target=_child, args=(name, args.model, texts, queue))
        process.start()
        results[name] = queue.get()
        process.join()
        print(name, json.dumps(results[name]), flush=True)
    eqn_rate = results["eqn"]["texts_per_s"]
    record = {
        "command": f"python benchmarks/annotate_throughput.py --model {args.model} "
        f"--data-dir {args.data_dir}",
        "machine": f"{platform.machine()}, {mp.cpu_count()} CPU cores, CPU only",
        "texts": len(texts),
        "results": results,
        "eqn_vs_28pd_style": round(eqn_rate / results["28pd-style"]["texts_per_s"], 2),
        "eqn_share_of_encoder_ceiling": round(eqn_rate / results["encoder-only"]["texts_per_s"], 3),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("eqn_vs_28pd_style", "eqn_share_of_encoder_ceiling")}))


if __name__ == "__main__":
    main()
