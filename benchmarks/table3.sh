#!/usr/bin/env bash
# The paper's Table 3 for the non-pretrained backbones: baseline, CoEQN and EQN
# on the same split and seed, for 6emotions (S baseline, accuracy) and GoEmotions
# (M baseline, hit rate and F1). Results: runs/table3_*/comparison.md, copied
# into benchmarks/results/.
# Usage: bash benchmarks/table3.sh
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}
EPOCHS=${EPOCHS:-5}
mkdir -p benchmarks/results
for dataset in ${DATASETS:-6emotions goemotions}; do
  eqn compare -d "$dataset" --data-dir "$DATA/$dataset" --backbones ann,cnn,lstm,textcnn \
    --epochs "$EPOCHS" --no-progress --resume -o "runs/table3_$dataset"
  cp "runs/table3_$dataset/comparison.md" "benchmarks/results/table3_$dataset.md"
  cp "runs/table3_$dataset/comparison.json" "benchmarks/results/table3_$dataset.json"
done
