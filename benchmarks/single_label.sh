#!/usr/bin/env bash
# Single-label issue: S (softmax) against CoEQN and EQN with the transformer
# (LoRA all-MiniLM-L6-v2) on 6emotions, three seeds, one factor at a time from
# the old default. Each cell is one `eqn train` run (S, coeqn, relabel, eqn on the
# same split and seed); its dev and test accuracy by max() are kept, one small
# JSON per cell and seed, in benchmarks/results/single_label_runs/ (committed, so
# a grid can span sessions; runs/ is not). Resumable: rerun to continue.
#
# Usage: CELL=default SEEDS="0 1 2" bash benchmarks/single_label.sh
#        CELL=epochs4 EXTRA="--epochs 4" bash benchmarks/single_label.sh
#        CELL=warm STAGES=coeqn,relabel,eqn EXTRA="--warm-start" bash benchmarks/single_label.sh
#          (a factor that S does not have: S is read from the default cell's seed)
#        CELL=warm REUSE=default STAGES=coeqn,relabel,eqn EXTRA="--warm-start" bash ...
#          (a factor of Model 2 only: Model 1 and the relabelled set are copied from
#          the REUSE cell's run of the same seed, which made them with the same flags
#          and seed, so they are the ones this cell would train; saves ~10 CPU-minutes)
# Summary: python benchmarks/summarize_single_label.py
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}/6emotions
EQN=${EQN:-eqn}
PYTHON=${PYTHON:-python}
CELL=${CELL:-default}
SEEDS=${SEEDS:-0 1 2}
STAGES=${STAGES:-S,coeqn,relabel,eqn}
KEEP=${KEEP:-benchmarks/results/single_label_runs}
REUSE=${REUSE:-}
mkdir -p runs/single_label "$KEEP"
for seed in $SEEDS; do
  out=runs/single_label/${CELL}_seed$seed
  if [ -f "$KEEP/${CELL}_seed$seed.json" ]; then continue; fi
  shared=runs/single_label/${REUSE}_seed$seed
  if [ -n "$REUSE" ] && [ ! -e "$out" ] && [ -f "$shared/relabelled_train.csv" ]; then
    mkdir -p "$out"
    cp -r "$shared/coeqn" "$shared/relabelled_train.csv" "$out/"
    # Its record keeps Model 1 and the relabelling; this cell trains the rest.
    $PYTHON -c 'import json, sys; r = json.load(open(sys.argv[1])); r["stages"] = {k: v for k, v in r["stages"].items() if k in ("coeqn", "relabel")}; json.dump(r, open(sys.argv[2], "w"), indent=1)' \
      "$shared/run.json" "$out/run.json"
  fi
  # The old defaults, written out so that a later change of defaults cannot move them.
  # shellcheck disable=SC2086
  $EQN train 6emotions --data-dir "$DATA" --stage "$STAGES" --finetune lora \
    --loss mse --imbalance pos_weight --epochs 2 --seed "$seed" ${EXTRA:-} \
    --no-progress --resume -o "$out" >"runs/single_label/${CELL}_seed$seed.log" 2>&1
  $PYTHON benchmarks/summarize_single_label.py --keep "$out" --cell "$CELL" --seed "$seed" \
    --extra="${EXTRA:-}" --keep-dir "$KEEP"
done
