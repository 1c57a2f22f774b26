#!/usr/bin/env bash
# Energy-validity issue, step 3: two runs that the default-model rule still owed.
#
# 1. The student's own noise. A second student trains on the *same* soft targets
#    as the seed-1 student (teachers 3-5's mean energies, copied from
#    runs/energy/student_seed1), with another student seed (11). Its agreement with
#    the seed-1 student isolates what the student adds to the two-seed instability;
#    its disagreement with the seed-0 student adds the teachers' share. (The copied
#    relabel record in run.json names the teachers; the top-level "relabel" entry is
#    rewritten from --seed and names seeds 33-35, which were never trained.)
# 2. The fair M baseline: LoRA MiniLM, BCE with the same positive weights, 3 epochs,
#    seed 0, exactly the shipped student's backbone, data and seed.
#
# Usage: bash benchmarks/energy_probes.sh   (needs runs/energy/student_seed1 from
#        SEED=1 bash benchmarks/energy_student.sh; resumable: rerun to continue)
# Logs: runs/probe/*.log. Scoring: benchmarks/energy_validity.py (command in
# results/energy_validity.md).
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}/goemotions
EQN=${EQN:-eqn}
PYTHON=${PYTHON:-python}
SOURCE=runs/energy/student_seed1
OUT=runs/probe/student_t345_seed11
mkdir -p "$OUT"
if [ ! -f "$OUT/relabelled_train.csv" ]; then
  cp "$SOURCE/relabelled_train.csv" "$OUT/"
  $PYTHON -c 'import json, sys; r = json.load(open(sys.argv[1])); r["stages"] = {k: v for k, v in r["stages"].items() if k == "relabel"}; json.dump(r, open(sys.argv[2], "w"), indent=1)' \
    "$SOURCE/run.json" "$OUT/run.json"
fi
$EQN train goemotions --data-dir "$DATA" --teachers 3 --stage eqn --finetune lora \
  --loss bce --imbalance pos_weight --epochs 3 --seed 11 --no-progress --resume \
  -o "$OUT" >runs/probe/student_t345_seed11.log 2>&1
$EQN train goemotions --data-dir "$DATA" --stage M --finetune lora --imbalance pos_weight \
  --epochs 3 --seed 0 --no-progress --resume -o runs/probe/m_seed0 >runs/probe/m_seed0.log 2>&1
