#!/usr/bin/env bash
# Small training sets: does each recipe's first model learn from 1,000 GoEmotions
# texts? (The review loop's simulation starts there.) A seeded 1,000-text subset of
# train, seeded 1,000-text subsets of dev and test, LoRA MiniLM, seed 0; M, CoEQN
# (MSE) and a BCE energy model (a student-m teacher) at 2 and 5 epochs. Writes
# benchmarks/results/small_data.md.
# Usage: bash benchmarks/small_data.sh   (about an hour on 2 CPU cores)
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}/goemotions
COMMON=(goemotions --data-dir "$DATA" --max-train 1000 --max-eval 1000 --finetune lora --no-progress --resume)
mkdir -p runs/small_data
for epochs in 2 5; do
  eqn train "${COMMON[@]}" --recipe plain --epochs "$epochs" -o "runs/small_data/M_e$epochs" \
    > "runs/small_data/M_e$epochs.log" 2>&1
  eqn train "${COMMON[@]}" --stage coeqn --epochs "$epochs" -o "runs/small_data/coeqn_e$epochs" \
    > "runs/small_data/coeqn_e$epochs.log" 2>&1
  eqn train "${COMMON[@]}" --stage coeqn --loss bce --epochs "$epochs" \
    -o "runs/small_data/coeqn-bce_e$epochs" > "runs/small_data/coeqn-bce_e$epochs.log" 2>&1
done
python - <<'PY' > benchmarks/results/small_data.md
import json, os, platform, subprocess
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print("# 1,000 training texts (GoEmotions subsets; `bash benchmarks/small_data.sh`)\n")
print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; commit {commit}.\n")
print("| model | epochs | dev macro F1 per epoch (dev-tuned h) | chance | test macro F1 |")
print("|---|---|---|---|---|")
for name, stage_name in (("M", "M"), ("coeqn", "coeqn"), ("coeqn-bce", "coeqn")):
    for epochs in (2, 5):
        record = json.load(open(f"runs/small_data/{name}_e{epochs}/run.json"))
        stage = record["stages"][stage_name]
        scores = ", ".join(f"{h['dev_score']:.3f}" for h in stage["history"])
        test = stage["metrics"]["test"]["thresholded"]["global"]["macro"]["f1"]
        print(f"| {name} | {epochs} | {scores} | {stage['dev']['chance']:.3f} | {test:.3f} |")
PY
cat benchmarks/results/small_data.md
