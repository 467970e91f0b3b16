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
mkdir -p "$OUT"
BUDGET=${BUDGET:-330}
left() { local l=$((BUDGET - SECONDS)); echo $((l > 5 ? l : 5)); }
cap() { local want=$1 l; l=$(left); echo $((want < l ? want : l)); }
rc=0
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
[ -f .gpu/apps.tar.xz ] || { echo "no .gpu/apps.tar.xz: stage the apps first (see the header) and carry .gpu"; exit 2; }
# shellcheck source=/dev/null
source tools/gpu/device-env.sh || { echo "build failed: see $OUT/native-build.log"; exit 1; }
nvcc -O3 -std=c++17 -arch=sm_90 -I native/include native/tests/cuda/bench_decoder_cuda.cu -o /tmp/bench_decoder_cuda \
  -L/tmp/nb -lmamba_native -Xlinker -rpath -Xlinker /tmp/nb > "$OUT/bench-build.log" 2>&1 || rc=1
echo "built in ${SECONDS}s"

echo "=== Category=Cuda tests"
timeout "$(cap 150)" "$APP/Microsoft.ML.Mamba.Tests" --filter-trait "Category=Cuda" --parallel none --no-ansi \
  > "$OUT/cuda-tests.log" 2>&1 || rc=1
grep -E "^failed " -A8 "$OUT/cuda-tests.log" | head -40
grep -E "total:|failed:|succeeded:|skipped:" "$OUT/cuda-tests.log"

echo "=== DecodeBenchmark (prompt 1024, 128 greedy tokens, best of 2)"
for a in mamba2 mamba1; do
  timeout "$(cap 90)" "$APP/DecodeBenchmark" --device cuda --architecture $a --dtype fp32,bf16 --batches "${BATCHES:-1,16}" \
    --paths native,torch --repeats 2 > "$OUT/bench_$a.log" 2>&1 || rc=1
  echo "--- $a"; grep -E "^Model:|tokens/s|identical" "$OUT/bench_$a.log" | cut -c1-170
done

echo "=== training, bf16, batch 8 x 1024, 10 timed steps"
for a in mamba1 mamba2; do
  timeout "$(cap 55)" "$APP/Mamba.Benchmarks" train --device cuda --architecture $a --dtype bf16 --batch 8 --length 1024 \
    --steps 10 --no-memory > "$OUT/train_$a.log" 2>&1 || rc=1
  echo "--- $a"; grep -iE "tokens/s|parameters|error" "$OUT/train_$a.log" | cut -c1-170 | tail -4
done

echo "=== bench_decoder_cuda, programmatic dependent launch on / off"
for pdl in 1 0; do
  MAMBA_DECODER_PDL=$pdl timeout "$(cap 40)" /tmp/bench_decoder_cuda 24 768 50280 1,16 > "$OUT/bench_decoder_pdl$pdl.log" 2>&1 || rc=1
  echo "--- PDL $pdl"; grep -E "batch" "$OUT/bench_decoder_pdl$pdl.log" | cut -c1-150
done

echo "=== one token's kernels (ncu, bench_decoder_cuda with MAMBA_BENCH_PROFILE=1; kernels serialised, no launch gaps)"
MAMBA_BENCH_PROFILE=1 timeout "$(cap 90)" ncu --profile-from-start off --clock-control none --cache-control none \
  --print-kernel-base function --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv --page raw \
  /tmp/bench_decoder_cuda 24 768 50280 1,16 > "$OUT/ncu_decoder.csv" 2> "$OUT/ncu_decoder.err" || rc=1
python3 native/tests/cuda/decoder_timeline.py "$OUT/ncu_decoder.csv" fp32-b1 fp32-b16 bf16-b1 bf16-b16 \
  > "$OUT/decoder_timeline.txt" 2>&1 || rc=1
cut -c1-150 "$OUT/decoder_timeline.txt" | head -60

echo "=== compute-sanitizer memcheck (teacher-forced Mamba-2 decoder test)"
timeout "$(cap 60)" compute-sanitizer --tool memcheck --print-limit 20 "$APP/Microsoft.ML.Mamba.Tests" \
  --filter-method "*CudaMamba2DecoderTests.LogitsAndStatesStayCloseToTheTorchSharpStepTeacherForced" \
  > "$OUT/memcheck.log" 2>&1 || rc=1
grep -E "ERROR SUMMARY|total:|failed:|succeeded:" "$OUT/memcheck.log"
echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
