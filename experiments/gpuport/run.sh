#!/usr/bin/env bash
# Runs the GPU measurement of experiments/gpuport/README.md on a machine with PyTorch
# and a CUDA GPU, from the repository root. Build the two Go tools first, where Go is:
#   CGO_ENABLED=0 go build -o gpuport-bin/export ./experiments/gpuport/export
#   go run ./experiments/gpuport/reference -out gpuport-bin/reference.safetensors   (add -tags openblas with CGO_LDFLAGS=-lopenblas for speed)
# Then: OUT=dir bash experiments/gpuport/run.sh [variant ...]   (default: base attn16)
set -euo pipefail
export PYTHONUNBUFFERED=1
N=${N:-200000}
SECS=${SECS:-340}
OUT=${OUT:?set OUT to the output folder}
variants=("${@:-base attn16}")
[ -f /tmp/gpuport-data/captions.txt ] || gpuport-bin/export -n "$N" -out /tmp/gpuport-data
python3 experiments/gpuport/train.py prep /tmp/gpuport-data "$N" gpuport-bin/reference.safetensors
pids=()
for v in ${variants[@]}; do
  python3 experiments/gpuport/train.py train "$v" "$OUT" "$SECS" 256 2e-3 "$N" > "/tmp/gpuport-$v.log" 2>&1 &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || echo "a training process failed"; done
cat /tmp/gpuport-*.log
