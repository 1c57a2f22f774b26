#!/usr/bin/env bash
# Energy-validity issue, step 1: the teachers of the ensemble-teacher recipe.
# Each teacher is a CoEQN model (Model 1: LoRA all-MiniLM-L6-v2, MSE on 0/10 full
# labels, pos_weight, 3 epochs) with its own seed. The student (a later step)
# trains on the teachers' mean energies over train, gold kept at 10.
#
# Usage: SEEDS="0 1 2" bash benchmarks/energy_teachers.sh    (resumable: rerun to continue)
# Logs: runs/energy/teacher_seed$S.log
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}/goemotions
SEEDS=${SEEDS:-0 1 2}
EQN=${EQN:-eqn}
mkdir -p runs/energy
for seed in $SEEDS; do
  out=runs/energy/teacher_seed$seed
  [ -f "$out/coeqn/config.json" ] && continue
  $EQN train goemotions --data-dir "$DATA" --stage coeqn --finetune lora \
    --loss mse --imbalance pos_weight --epochs 3 --seed "$seed" --no-progress --resume \
    -o "$out" >"runs/energy/teacher_seed$seed.log" 2>&1
done
