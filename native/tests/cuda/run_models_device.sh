#!/bin/bash
# The models on CUDA after a change to the decoders or the SSD kernels, in ONE device call (issues #20 and #21): every Category=Cuda C#
# test, the Mamba-1 decoder alone with programmatic dependent launch on and off (bench_decoder_cuda), decoding
# through the generation loop for Mamba-2 and Mamba-1 (DecodeBenchmark, native decoder and TorchSharp step), training
# throughput of both at 130M (Mamba.Benchmarks train, bf16), one token's per-kernel timeline (ncu), and memcheck on one teacher-forced Mamba-2 decoder test.
# Here first: tools/gpu/stage-apps.sh tests/Microsoft.ML.Mamba.Tests benchmarks/DecodeBenchmark benchmarks/Mamba.Benchmarks
# Device call, carrying [".gpu"]: bash native/tests/cuda/run_models_device.sh   (logs to $OUT; BUDGET seconds, 330)
set -u -o pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/models-out}
BUDGET=${BUDGET:-330}
# shellcheck source=native/tests/cuda/device_steps.sh
source native/tests/cuda/device_steps.sh
device_begin
# shellcheck source=/dev/null
source tools/gpu/device-env.sh || { echo "build failed: see $OUT/native-build.log"; exit 1; }
build_bench_decoder /tmp/bench_decoder_cuda
echo "built in ${SECONDS}s"

echo "=== Category=Cuda tests"
csharp_tests cuda-tests.log 150 --filter-trait "Category=Cuda" --parallel none

echo "=== DecodeBenchmark (prompt 1024, 128 greedy tokens, best of 2)"
for a in mamba2 mamba1; do decode_benchmark $a "${BATCHES:-1,16}" 90; done

echo "=== training, bf16, batch 8 x 1024, 10 timed steps"
for a in mamba1 mamba2; do
  timeout "$(cap 55)" "$APP/Mamba.Benchmarks" train --device cuda --architecture $a --dtype bf16 --batch 8 --length 1024 \
    --steps 10 --no-memory > "$OUT/train_$a.log" 2>&1 || rc=1
  echo "--- $a"; grep -iE "tokens/s|parameters|error" "$OUT/train_$a.log" | cut -c1-170 | tail -4
done

echo "=== bench_decoder_cuda, programmatic dependent launch on / off"
bench_decoder_pdl /tmp/bench_decoder_cuda 1,16 40 1

echo "=== one token's kernels (ncu, bench_decoder_cuda with MAMBA_BENCH_PROFILE=1; kernels serialised, no launch gaps)"
MAMBA_BENCH_PROFILE=1 timeout "$(cap 90)" ncu --profile-from-start off --clock-control none --cache-control none \
  --print-kernel-base function --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv --page raw \
  /tmp/bench_decoder_cuda 24 768 50280 1,16 > "$OUT/ncu_decoder.csv" 2> "$OUT/ncu_decoder.err" || rc=1
python3 native/tests/cuda/decoder_timeline.py "$OUT/ncu_decoder.csv" fp32-b1 fp32-b16 bf16-b1 bf16-b16 \
  > "$OUT/decoder_timeline.txt" 2>&1 || rc=1
cut -c1-150 "$OUT/decoder_timeline.txt" | head -60

echo "=== compute-sanitizer memcheck (teacher-forced Mamba-2 decoder test)"
memcheck_decoder_test 60
echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
