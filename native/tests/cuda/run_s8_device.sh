#!/bin/bash
# One device call for branch s8-pending: the SSD forward keeping its chunk states for the backward (ssd_api.cu's
# checkpoints) and the gated RMSNorm with 16-byte vectors (gated_rms_norm.cu), neither run on a GPU before. By
# priority within BUDGET seconds (default 560): test_ssd_cuda (v3: every case also with the kept checkpoints, bitwise),
# bench_ssd_cuda (the kept row beside the recomputing one), every Category=Cuda C# test, memcheck on the SSD quick
# subset and on the gated norm's tests, the gated norm's benchmark, bf16 training of both architectures at 130M,
# alternating, and an ncu kernel sum of one Mamba-2 training step.
# Here first: tools/gpu/stage-apps.sh tests/Microsoft.ML.Mamba.Tests benchmarks/Mamba.Benchmarks
# Device call, carrying [".gpu"]: bash native/tests/cuda/run_s8_device.sh   (logs to $OUT)
set -u -o pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/ca}
BUDGET=${BUDGET:-560}
source native/tests/cuda/device_steps.sh
device_begin
TB=/tmp/tb; mkdir -p "$TB"
(cmake -S native -B /tmp/nb -DMAMBA_CUDA=ON -DMAMBA_CUDA_ARCHITECTURES=90 &&
  cmake --build /tmp/nb -j12 --target mamba_native) > "$OUT/native-build0.log" 2>&1 &
NEWLIB=$!
NV="nvcc -O3 -std=c++17 -arch=sm_90 -I native/include -I native/src -DMAMBA_NATIVE_BUILD"
pids=()
for f in native/src/cuda/ssd_api.cu native/src/cuda/ssd_step.cu native/src/common/errors.cpp native/src/common/abi_validate.cpp \
         native/src/common/ssd_validate.cpp native/tests/cuda/test_ssd_cuda.cu; do
  $NV -c "$f" -o "$TB/$(basename "$f").o" > "$TB/$(basename "$f").log" 2>&1 & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || rc=1; done
cat "$TB"/*.log > "$OUT/ssd-build.log"; grep -E "error" -A3 "$OUT/ssd-build.log" | head -20
$NV "$TB"/*.o -o "$TB/test_ssd_cuda" || rc=1
echo "=== test_ssd_cuda v3 (at ${SECONDS}s; each case also vs separate kernels, fp32 states and kept checkpoints)"
MAMBA_SSD_KERNELS=v3 MAMBA_SSD_FP32=simt timeout "$(cap 80)" "$TB/test_ssd_cuda" > "$OUT/test_ssd_v3.log" 2>&1 || rc=1
grep -E "FAIL|SUMMARY" "$OUT/test_ssd_v3.log" | head -20
grep -c "kept checkpoints.*bitwise" "$OUT/test_ssd_v3.log"
wait "$NEWLIB" || tail -5 "$OUT/native-build0.log"
source tools/gpu/device-env.sh || { echo "lib build failed"; tail -20 "$OUT/native-build.log"; exit 1; }
echo "lib built at ${SECONDS}s"
nvcc -O3 -std=c++17 -arch=sm_90 -I native/include native/tests/cuda/bench_ssd_cuda.cu -o "$TB/bench_ssd_cuda" -L/tmp/nb \
  -lmamba_native -Xlinker -rpath -Xlinker /tmp/nb > "$OUT/bench-ssd-build.log" 2>&1 || rc=1
echo "=== bench_ssd_cuda (at ${SECONDS}s)"
timeout "$(cap 70)" "$TB/bench_ssd_cuda" > "$OUT/bench_ssd.log" 2>&1 || rc=1
grep -E "fwd\+bwd|kept|scan" "$OUT/bench_ssd.log" | cut -c1-200
echo "=== Category=Cuda C# tests (at ${SECONDS}s)"
csharp_tests cuda-tests.log 170 --filter-trait "Category=Cuda" --parallel none
echo "=== memcheck quick v3 (at ${SECONDS}s)"
MAMBA_SSD_KERNELS=v3 timeout "$(cap 50)" compute-sanitizer --tool memcheck "$TB/test_ssd_cuda" --quick > "$OUT/memcheck.log" 2>&1 || rc=1
grep -E "ERROR SUMMARY|SUMMARY|FAIL" "$OUT/memcheck.log" | head
echo "=== memcheck of the gated norm's and the SSD's CUDA tests (at ${SECONDS}s)"
timeout "$(cap 70)" compute-sanitizer --tool memcheck --print-limit 20 "$APP/Microsoft.ML.Mamba.Tests" \
  --filter-class "*CudaGatedRmsNormTests" --filter-class "*CudaSsdTests" > "$OUT/memcheck_cs.log" 2>&1 || rc=1
grep -E "ERROR SUMMARY|total:|failed:|succeeded:" "$OUT/memcheck_cs.log"
echo "=== gated-norm (at ${SECONDS}s)"
timeout "$(cap 40)" "$APP/Mamba.Benchmarks" gated-norm --device cuda --batch 8 --length 1024 --dtypes bf16,fp32 \
  --reps 20 > "$OUT/gated_norm.log" 2>&1 || rc=1
grep -E "^\| (native|reference)|rror" "$OUT/gated_norm.log" | cut -c1-200
echo "=== training bf16 8x1024 (at ${SECONDS}s)"
for a in mamba2 mamba1 mamba2 mamba1; do
  timeout "$(cap 45)" "$APP/Mamba.Benchmarks" train --device cuda --architecture $a --dtype bf16 --batch 8 \
    --length 1024 --steps 20 --no-memory >> "$OUT/train_$a.log" 2>&1 || rc=1
  echo "--- $a"; grep -iE "tokens/s|error" "$OUT/train_$a.log" | cut -c1-200 | tail -2
done
echo "=== ncu, one Mamba-2 training step (at ${SECONDS}s)"
if [ $((BUDGET - SECONDS)) -gt 50 ]; then
  timeout "$(cap 90)" ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --page raw \
    --print-kernel-base function "$APP/Mamba.Benchmarks" train --device cuda --architecture mamba2 --dtype bf16 \
    --batch 8 --length 1024 --steps 1 --warmup-steps 0 --no-memory > "$OUT/ncu_train.csv" 2> "$OUT/ncu_train.err" || rc=1
  python3 native/tests/cuda/kernel_sums.py "$OUT/ncu_train.csv" 18 60
fi
echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
