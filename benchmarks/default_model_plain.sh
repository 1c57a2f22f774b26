#!/usr/bin/env bash
# Issue 28's consequence for the shipped model. The recipe study's rule
# (benchmarks/recipe_study.md) retrains the shipped GoEmotions model with the recipe
# it picks. This trains that model with the plain recipe (M) on the shipped student's
# settings (LoRA MiniLM, pos_weight, 3 epochs, seed 0, all of train), then scores it
# beside the shipped model, both calibrated on dev by the same code
# (energy_validity.py): dev chooses, test is reported.
#
# Usage: bash benchmarks/default_model_plain.sh   (about an hour on one CPU core;
#        log in runs/energy/plain_seed0.log; resumable)
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}
OUT=runs/energy/plain_seed0
mkdir -p runs/energy
eqn train goemotions --data-dir "$DATA/goemotions" --recipe plain --finetune lora \
  --imbalance pos_weight --epochs 3 --seed 0 --no-progress --resume \
  -o "$OUT" > runs/energy/plain_seed0.log 2>&1
python benchmarks/energy_validity.py --data-dir "$DATA" \
  --candidate 'ensemble-teacher student, seed 0 (shipped)=src/eqn/models/goemotions-minilm-eqn' \
  --candidate "M (recipe plain), seed 0=$OUT/M" > benchmarks/results/default_model_plain.md
cat benchmarks/results/default_model_plain.md
