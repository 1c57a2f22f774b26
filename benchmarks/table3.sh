#!/usr/bin/env bash
# The paper's Table 3: baseline, CoEQN and EQN for five backbones on the same
# split and seed: 6emotions (S baseline, accuracy by max()) and GoEmotions
# (M baseline, hit rate and F1). Results: runs/table3_*/comparison.md, copied
# into benchmarks/results/.
#
# The four fast backbones train inside `eqn compare`. The transformer row comes
# from a finished run (`--from-run`): on GoEmotions the default-model run of
# benchmarks/default_model.sh (LoRA MiniLM, 3 epochs); on 6emotions a LoRA run
# made here with the same head and imbalance options as the other rows.
# Usage: bash benchmarks/table3.sh   (after benchmarks/default_model.sh)
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}
mkdir -p benchmarks/results
for dataset in ${DATASETS:-6emotions goemotions}; do
  if [ "$dataset" = goemotions ]; then
    epochs=${GOEMOTIONS_EPOCHS:-3}
    transformer_run=runs/default/full
  else
    epochs=${EPOCHS:-5}
    transformer_run=runs/table3_${dataset}_transformer
    eqn train "$dataset" --data-dir "$DATA/$dataset" --stage S,coeqn,relabel,eqn \
      --finetune lora --loss mse --imbalance pos_weight --epochs "${TRANSFORMER_EPOCHS:-2}" \
      --no-progress --resume -o "$transformer_run"
  fi
  eqn compare -d "$dataset" --data-dir "$DATA/$dataset" \
    --backbones ann,cnn,lstm,textcnn,transformer --from-run "transformer=$transformer_run" \
    --epochs "$epochs" --no-progress --resume -o "runs/table3_$dataset"
  cp "runs/table3_$dataset/comparison.md" "benchmarks/results/table3_$dataset.md"
  cp "runs/table3_$dataset/comparison.json" "benchmarks/results/table3_$dataset.json"
done
