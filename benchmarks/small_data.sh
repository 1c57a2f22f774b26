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
train() {  # NAME ARGS...: one run, resumed if started; notes the commit that trains it
  local name=$1; shift
  [ -f "runs/small_data/$name/run.json" ] || git rev-parse --short HEAD > "runs/small_data/$name.commit"
  eqn train "${COMMON[@]}" "$@" -o "runs/small_data/$name" > "runs/small_data/$name.log" 2>&1
}
for epochs in 2 5; do
  train "M_e$epochs" --recipe plain --epochs "$epochs"
  train "coeqn_e$epochs" --stage coeqn --epochs "$epochs"
  train "coeqn-bce_e$epochs" --stage coeqn --loss bce --epochs "$epochs"
done
python - <<'PY' > benchmarks/results/small_data.md
import json, os, platform, subprocess
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print("# 1,000 training texts (GoEmotions subsets; `bash benchmarks/small_data.sh`)\n")
print(f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; table written at commit {commit}.\n")
print("| model | epochs | dev macro F1 per epoch (dev-tuned h) | chance | test macro F1 | trained at |")
print("|---|---|---|---|---|---|")
for name, stage_name in (("M", "M"), ("coeqn", "coeqn"), ("coeqn-bce", "coeqn")):
    for epochs in (2, 5):
        record = json.load(open(f"runs/small_data/{name}_e{epochs}/run.json"))
        stage = record["stages"][stage_name]
        scores = ", ".join(f"{h['dev_score']:.3f}" for h in stage["history"])
        test = stage["metrics"]["test"]["thresholded"]["global"]["macro"]["f1"]
        commit_file = f"runs/small_data/{name}_e{epochs}.commit"
        trained_at = open(commit_file).read().strip() if os.path.exists(commit_file) else "?"
        print(f"| {name} | {epochs} | {scores} | {stage['dev']['chance']:.3f} | {test:.3f} | {trained_at} |")
PY
cat benchmarks/results/small_data.md
