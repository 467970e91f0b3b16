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
start_native_build
build_ssd_tests "$TB"
echo "=== test_ssd_cuda v3 (at ${SECONDS}s; each case also vs separate kernels, fp32 states and kept checkpoints)"
MAMBA_SSD_KERNELS=v3 MAMBA_SSD_FP32=simt timeout "$(cap 80)" "$TB/test_ssd_cuda" > "$OUT/test_ssd_v3.log" 2>&1 || rc=1
grep -E "FAIL|SUMMARY" "$OUT/test_ssd_v3.log" | head -20
grep -c "kept checkpoints.*bitwise" "$OUT/test_ssd_v3.log"
finish_native_build "$TB"
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
train_both 2
echo "=== ncu, one Mamba-2 training step (at ${SECONDS}s)"
ncu_mamba2_step function 18 60
echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
