#!/usr/bin/env bash
# The quantizer ablation published in docs/results/cartpole-quantizers/: nine arms x 3 seeds on
# CartPole-v1 with the default config and budget, greedy eval over 10 episodes every 500
# env steps, then the report, copied into docs/results/ with the grid's wall time.
#
#   bash benchmarks/ablation.sh [extra run.py overrides]
#
# Re-running it skips the runs that finished, so an interrupted grid continues.
set -euo pipefail
cd "$(dirname "$0")/.."
SWEEP=${SWEEP:-cartpole-quantizers}
PYTHON=${PYTHON:-python}
COMMON=(env=cartpole eval.every=500 eval.episodes=10 log.progress=false "sweep=$SWEEP" "$@")
start=$(date +%s)
$PYTHON run.py -m quantizer=fsq,vq,lfq,categorical,gumbel,round,binary,none seed=0,1,2 \
    "${COMMON[@]}"
$PYTHON run.py -m quantizer=vq quantizer.estimator=rotation seed=0,1,2 "${COMMON[@]}"
wall=$(( $(date +%s) - start ))
$PYTHON run.py report="sweeps/$SWEEP"
mkdir -p "docs/results/$SWEEP"
cp "sweeps/$SWEEP"/{report.md,curves.png,codebook.png} "docs/results/$SWEEP/"
echo "grid wall time: $wall s ($(nproc) cores)" | tee "docs/results/$SWEEP/wall_time.txt"
