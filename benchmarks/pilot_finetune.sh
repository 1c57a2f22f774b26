#!/usr/bin/env bash
# Pilot: which fine-tuning mode of the packaged MiniLM to use for the shippable
# default model (<= 5 MB rules out storing the full encoder). One epoch on a
# seeded 8,000-text subset of GoEmotions train, scored on the full dev/test.
# Usage: bash benchmarks/pilot_finetune.sh  (results: runs/pilot_*/run.json)
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}/goemotions
common=(goemotions --data-dir "$DATA" --stage coeqn --max-train 8000 --epochs 1 --no-progress --force)
eqn train "${common[@]}" -o runs/pilot_full --finetune full
eqn train "${common[@]}" -o runs/pilot_lora_qv8 --finetune lora
eqn train "${common[@]}" -o runs/pilot_lora_all16 --finetune lora \
  --option lora_r=16 --option lora_alpha=32 --option 'lora_target_modules=["query","key","value","dense"]'
