#!/usr/bin/env bash
# Loss and imbalance variants, EQN head against the baselines, at pilot scale:
# one epoch of LoRA MiniLM on a seeded 8,000-text subset of GoEmotions train,
# scored on the full dev and test splits. Dev picks; test is reported only.
# Reuses runs of benchmarks/default_model.sh. Table: benchmarks/results/variants.md
# Usage: bash benchmarks/variants.sh
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}/goemotions
pilot=(goemotions --data-dir "$DATA" --max-train 8000 --epochs 1 --no-progress --finetune lora)
run() {  # stage loss imbalance
  local out=runs/default/pilot_$2_$3
  [ "$1" = M ] && out=runs/default/pilot_M_$3
  local loss=(--loss "$2")
  [ "$1" = M ] && loss=()  # M trains with BCE whatever --loss says, and eqn train refuses it
  [ -f "$out/run.json" ] || eqn train "${pilot[@]}" --stage "$1" "${loss[@]}" --imbalance "$3" -o "$out"
}
for imbalance in pos_weight none oversample undersample; do run coeqn mse "$imbalance"; done
run coeqn bce pos_weight
run coeqn bce none
for imbalance in pos_weight none; do run M mse "$imbalance"; done
# Stability across seeds (pilot scale): the same configuration with seed 1,
# compared with seed 0 on the test split (Spearman of energies).
[ -f runs/default/seed1_mse_pos_weight/run.json ] || eqn train "${pilot[@]}" --stage coeqn \
  --loss mse --imbalance pos_weight --seed 1 -o runs/default/seed1_mse_pos_weight
eqn evaluate -d goemotions --data-dir "$DATA" -m runs/default/pilot_mse_pos_weight/coeqn \
  --against runs/default/seed1_mse_pos_weight/coeqn --no-progress -o benchmarks/results/stability_pilot
python benchmarks/summarize_runs.py runs/default/pilot_* --title "Variants at pilot scale" \
  > benchmarks/results/variants.md
cat benchmarks/results/variants.md
