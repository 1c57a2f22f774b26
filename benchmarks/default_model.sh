#!/usr/bin/env bash
# Makes the shipped default model: LoRA-adapted all-MiniLM-L6-v2 on GoEmotions.
#
# 1. Variant pilots (1 epoch, seeded 8,000-text subset of train, scored on the
#    full dev split): the loss/imbalance variants of the EQN head.
# 2. The variant with the best dev score (dev only; test is never used to
#    choose) runs the full pipeline on all of train: the fair M baseline with
#    the same imbalance option, CoEQN (Model 1), relabel, EQN (Model 2).
#
# Usage: bash benchmarks/default_model.sh   (logs in runs/default/*.log)
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}/goemotions
LORA=(--finetune lora ${LORA_OPTIONS:-})
EPOCHS=${EPOCHS:-2}
mkdir -p runs/default
pilot=(goemotions --data-dir "$DATA" --stage coeqn --max-train 8000 --epochs 1 --no-progress)
for variant in "mse pos_weight" "bce pos_weight" "mse none"; do
  set -- $variant
  out=runs/default/pilot_$1_$2
  [ -f "$out/run.json" ] || eqn train "${pilot[@]}" "${LORA[@]}" --loss "$1" --imbalance "$2" -o "$out"
done
best=$(python - <<'PY'
import json, glob
scores = {}
for path in glob.glob("runs/default/pilot_*/run.json"):
    stage = json.load(open(path))["stages"]["coeqn"]
    scores[path.split("/")[-2][len("pilot_"):]] = stage["history"][-1]["dev_score"]
for name, score in sorted(scores.items(), key=lambda kv: -kv[1]):
    print(f"dev macro F1 {score:.4f}  {name}", file=__import__("sys").stderr)
print(max(scores, key=scores.get))
PY
)
loss=${best%%_*}; imbalance=${best#*_}
echo "chosen on dev: loss=$loss imbalance=$imbalance"
eqn train goemotions --data-dir "$DATA" --stage M,coeqn,relabel,eqn "${LORA[@]}" \
  --loss "$loss" --imbalance "$imbalance" --epochs "$EPOCHS" --no-progress --resume \
  -o runs/default/full
