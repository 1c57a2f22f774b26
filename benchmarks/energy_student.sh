#!/usr/bin/env bash
# Energy-validity issue, step 2: the ensemble-teacher recipe's student.
# Three CoEQN teachers (seeds SEED*3 .. SEED*3+2; LoRA MiniLM, MSE on 0/10 full
# labels, pos_weight, 3 epochs) relabel train with their mean energies, gold kept
# at 10; a student of the same backbone trains on these soft targets with BCE on
# energy/10. Teachers already trained by energy_teachers.sh are reused (linked from
# TEACHERS_FROM); missing ones are trained here. Resumable: rerun to continue.
#
# Usage: SEED=0 bash benchmarks/energy_student.sh     (log: runs/energy/student_seed$SEED.log)
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}/goemotions
SEED=${SEED:-0}
EQN=${EQN:-eqn}
TEACHERS_FROM=${TEACHERS_FROM:-runs/energy}
OUT=runs/energy/student_seed$SEED
mkdir -p "$OUT/teachers"
for k in 0 1 2; do
  s=$((SEED * 3 + k))
  found=$(cd "$TEACHERS_FROM" && pwd)/teacher_seed$s/coeqn
  if [ ! -e "$OUT/teachers/seed_$s" ] && [ -f "$found/config.json" ]; then
    ln -s "$found" "$OUT/teachers/seed_$s"
  fi
done
$EQN train goemotions --data-dir "$DATA" --teachers 3 --stage relabel,eqn --finetune lora \
  --loss bce --imbalance pos_weight --epochs 3 --seed "$SEED" --no-progress --resume \
  -o "$OUT" >"runs/energy/student_seed$SEED.log" 2>&1
