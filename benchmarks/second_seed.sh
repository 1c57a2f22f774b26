#!/usr/bin/env bash
# The default configuration (runs/default/full, from default_model.sh) again with
# another seed, then the stability of the energies between the two EQN models and
# the seed-by-seed comparison of M, CoEQN and EQN.
# Usage: SEED=1 bash benchmarks/second_seed.sh   (after default_model.sh)
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}/goemotions
SEED=${SEED:-1}
EPOCHS=${EPOCHS:-3}
OUT=runs/default/full_seed$SEED
# EQN first: the stability report needs only the EQN-head models; M comes last.
eqn train goemotions --data-dir "$DATA" --stage coeqn,relabel,eqn,M --finetune lora \
  --loss mse --imbalance pos_weight --epochs "$EPOCHS" --seed "$SEED" --no-progress --resume \
  -o "$OUT"
eqn evaluate --model "$OUT/eqn" --dataset goemotions --data-dir "$DATA" --split test \
  --against runs/default/full/eqn --baseline "$OUT/M" --no-progress \
  -o "benchmarks/results/stability_seed0_seed$SEED"
python benchmarks/summarize_runs.py runs/default/full runs/default/full_seed* --title "The default configuration, two seeds" --group-by stage \
  > benchmarks/results/seeds.md
