#!/usr/bin/env bash
# Benchmarks that need the shipped default model, run one after another on a
# quiet machine so that timings do not disturb each other. Each writes its
# JSON record (command, machine, numbers) under benchmarks/results/.
# Usage: bash benchmarks/after_default.sh   (after benchmarks/default_model.sh)
set -euo pipefail
DATA=${EQN_DATA_DIR:-../shared/data}/goemotions
MODEL=src/eqn/models/goemotions-minilm-eqn
python benchmarks/model_card.py --data-dir "$DATA"
python benchmarks/annotate_throughput.py --model "$MODEL" --data-dir "$DATA"
python benchmarks/serve_load.py --model "$MODEL" --data-dir "$DATA"
python benchmarks/train_throughput.py --data-dir "$DATA"
