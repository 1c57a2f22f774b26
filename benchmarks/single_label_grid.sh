#!/usr/bin/env bash
# The single-label factor grid, one factor at a time from the old default, three
# seeds each, in the order the issue lists them. ~20 CPU-minutes per cell and seed
# on 2 cores (full fine-tuning more). Finished cells are skipped, so rerun it in
# later sessions to continue. CELLS="default epochs4" limits it.
set -euo pipefail
run() { CELL=$1 STAGES=${3:-S,coeqn,relabel,eqn} EXTRA=$2 REUSE=${4:-} bash benchmarks/single_label.sh; }
for cell in ${CELLS:-default epochs4 headlr imbalance_none full bce warm}; do
  case $cell in
    default) run default "" ;;
    epochs4) run epochs4 "--epochs 4" ;;                 # training length (best epoch was 2 of 2)
    headlr) run headlr "--head-lr 1e-2" coeqn,relabel,eqn ;;  # the head must reach 10: MSE scale against its LR
    imbalance_none) run imbalance_none "--imbalance none" ;;
    full) run full "--finetune full" ;;                  # LoRA against full fine-tuning (lr 5e-5)
    bce) run bce "--loss bce" coeqn,relabel,eqn ;;        # targets on the 0-1 scale through a sigmoid
    warm) run warm "--warm-start" coeqn,relabel,eqn default ;;  # Model 2 continues from Model 1 (the default cell's)
    *) echo "unknown cell $cell" >&2; exit 2 ;;
  esac
done
