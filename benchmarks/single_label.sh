#!/usr/bin/env bash
# Single-label issue: S (softmax) against CoEQN and EQN with the transformer
# (LoRA all-MiniLM-L6-v2) on 6emotions, three seeds, one factor at a time from
# today's default. Each cell is one `eqn train` run (S, coeqn, relabel, eqn on the
# same split and seed); run.json holds dev and test accuracy by max().
# Resumable: rerun to continue. Summary: python benchmarks/summarize_single_label.py
#
# Usage: CELL=default SEEDS="0 1 2" bash benchmarks/single_label.sh
#        CELL=epochs4 EXTRA="--epochs 4" bash benchmarks/single_label.sh
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}/6emotions
EQN=${EQN:-eqn}
CELL=${CELL:-default}
SEEDS=${SEEDS:-0 1 2}
mkdir -p runs/single_label
for seed in $SEEDS; do
  out=runs/single_label/${CELL}_seed$seed
  # Today's defaults, written out so that a later change of defaults cannot move them.
  # shellcheck disable=SC2086
  $EQN train 6emotions --data-dir "$DATA" --stage S,coeqn,relabel,eqn --finetune lora \
    --loss mse --imbalance pos_weight --epochs 2 --seed "$seed" ${EXTRA:-} \
    --no-progress --resume -o "$out" >"runs/single_label/${CELL}_seed$seed.log" 2>&1
done
