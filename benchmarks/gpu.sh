#!/usr/bin/env bash
# Update speed on a GPU, in one run of a few minutes: the S size and a 12M-parameter size,
# fp32 and bf16 autocast, eager and compiled, with the GPU's utilisation sampled meanwhile;
# then the CPU-default size from 64 x 64 pixels (CNN encoder and decoder).
#
#   bash benchmarks/gpu.sh            # on a CUDA machine; writes benchmarks/results/gpu.*
#   QUICK=1 bash benchmarks/gpu.sh    # a tiny check of the script itself (used by the tests)
#
# Without a visible GPU it runs the same measurements on the CPU, so it can be checked
# anywhere; its figures then say nothing about GPUs.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python}

if $PYTHON -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    DEVICE=cuda
else
    DEVICE=cpu
    echo "gpu.sh: no CUDA GPU visible; measuring on the CPU instead" >&2
fi

if [[ -n "${QUICK:-}" ]]; then
    ARGS=(--sizes cpu --precision fp32 bf16 --compile both --repeats 1 --train-steps 100
          --overrides preset=debug)
    PIXEL_ARGS=(--sizes cpu --precision fp32 --compile off --repeats 1 --train-steps 0
                --overrides preset=debug)
else
    ARGS=(--sizes s 12m --precision fp32 bf16 --compile both --repeats 10)
    PIXEL_ARGS=(--sizes cpu --precision fp32 bf16 --compile both --repeats 10 --train-steps 0)
fi

UTIL_PID=""
if [[ $DEVICE == cuda ]] && command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu-device.txt"
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader \
        -lms 200 > "$OUT/gpu-utilisation.csv" &
    UTIL_PID=$!
    trap 'kill "$UTIL_PID" 2> /dev/null || true' EXIT  # also when speed.py fails
fi

$PYTHON benchmarks/speed.py --device "$DEVICE" "${ARGS[@]}" --out "$OUT/gpu.json" \
    | tee "$OUT/gpu.md"
$PYTHON benchmarks/speed.py --device "$DEVICE" --obs pixels "${PIXEL_ARGS[@]}" \
    --out "$OUT/gpu-pixels.json" | tee -a "$OUT/gpu.md"

if [[ -n $UTIL_PID ]]; then
    kill "$UTIL_PID" || true
    # Mean utilisation over the samples taken while the benchmark ran.
    awk -F', ' '{gsub(/ %/, "", $2); sum += $2; n++}
        END {if (n) printf "GPU utilisation: mean %.0f%% over %d samples\n", sum / n, n}' \
        "$OUT/gpu-utilisation.csv" | tee -a "$OUT/gpu.md"
    cat "$OUT/gpu-device.txt" | tee -a "$OUT/gpu.md"
fi
