#!/bin/bash
# Verification of this branch's CUDA changes in ONE device call (written 2026-12-07, when no device could be had):
# the SSD chain kernels (ssd_state_chain.cuh), the Mamba-2 / Mamba-1 decoder changes and the CUDA gated RMSNorm
# (gated_rms_norm.cu), none of which has run on a GPU yet. By priority within BUDGET seconds (default 575):
# test_ssd_cuda (v3: every case also against MAMBA_SSD_PASS=separate bitwise), bench_ssd_cuda (chain and separate
# kernels and the Mamba-1 scan in one run), test_decoder_gemv_cuda, every Category=Cuda C# test (CudaGatedRmsNormTests
# among them), the gated norm's benchmark (native against TorchSharp's ops), memcheck on the SSD quick subset and on
# the gated norm's tests, bench_decoder_cuda of this branch against main's library (same run), training of both
# architectures (Mamba-2 with chain and separate kernels), the Mamba-2 decoder timeline.
# Here first:
#   tools/gpu/stage-apps.sh tests/Microsoft.ML.Mamba.Tests benchmarks/DecodeBenchmark benchmarks/Mamba.Benchmarks
#   rm -rf .gpu/base_native && mkdir -p .gpu/base && git archive main native | tar -x -C .gpu/base && mv .gpu/base/native .gpu/base_native
# Device call, carrying [".gpu"]: bash native/tests/cuda/run_pending_device.sh   (logs to $OUT)
set -u -o pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/ca}
BUDGET=${BUDGET:-575}
source native/tests/cuda/device_steps.sh
device_begin
TB=/tmp/tb; mkdir -p "$TB"
nvcc --version | tail -1
# Library (device-env, /tmp/nb) and main's library (/tmp/nb_base) in the background; test programs meanwhile.
(cmake -S .gpu/base_native -B /tmp/nb_base -DMAMBA_CUDA=ON -DMAMBA_CUDA_ARCHITECTURES=90 &&
  cmake --build /tmp/nb_base -j4 --target mamba_native) > "$OUT/base-build.log" 2>&1 &
BASE=$!
(cmake -S native -B /tmp/nb -DMAMBA_CUDA=ON -DMAMBA_CUDA_ARCHITECTURES=90 &&
  cmake --build /tmp/nb -j10 --target mamba_native) > "$OUT/native-build0.log" 2>&1 &
NEWLIB=$!
NV="nvcc -O3 -std=c++17 -arch=sm_90 -I native/include -I native/src -DMAMBA_NATIVE_BUILD"
$NV native/tests/cuda/test_decoder_gemv_cuda.cu native/src/common/errors.cpp -o "$TB/test_decoder_gemv_cuda" > "$OUT/gemv-build.log" 2>&1 &
GEMV=$!
build_ssd_tests "$TB"
echo "ssd tests built at ${SECONDS}s"
echo "=== test_ssd_cuda v3 (chain kernels; each case also vs MAMBA_SSD_PASS=separate and, 2-byte, vs fp32 states)"
MAMBA_SSD_KERNELS=v3 MAMBA_SSD_FP32=simt timeout "$(cap 80)" "$TB/test_ssd_cuda" > "$OUT/test_ssd_v3.log" 2>&1 || rc=1
grep -E "FAIL|SUMMARY" "$OUT/test_ssd_v3.log" | head -20
finish_native_build "$TB"
build_bench_decoder "$TB/bench_decoder_cuda"
echo "=== bench_ssd_cuda (at ${SECONDS}s)"
timeout "$(cap 60)" "$TB/bench_ssd_cuda" > "$OUT/bench_ssd.log" 2>&1 || rc=1
grep -vE "^$" "$OUT/bench_ssd.log" | cut -c1-200
wait "$GEMV" || { tail -5 "$OUT/gemv-build.log"; rc=1; }
echo "=== test_decoder_gemv_cuda (at ${SECONDS}s)"
timeout "$(cap 60)" "$TB/test_decoder_gemv_cuda" > "$OUT/test_gemv.log" 2>&1 || rc=1
grep -E "^FAIL|SUMMARY|CUDA error" "$OUT/test_gemv.log" | head -20
echo "=== Category=Cuda C# tests (at ${SECONDS}s)"
csharp_tests cuda-tests.log 160 --filter-trait "Category=Cuda" --parallel none
echo "=== gated RMSNorm, native against TorchSharp's ops, 8 x 1024 rows of 1536 (at ${SECONDS}s)"
timeout "$(cap 40)" "$APP/Mamba.Benchmarks" gated-norm --device cuda --batch 8 --length 1024 --dtypes bf16,fp32 \
  --reps 10 > "$OUT/gated_norm.log" 2>&1 || rc=1
grep -E "^\| (native|reference)|rror" "$OUT/gated_norm.log" | cut -c1-200
echo "=== memcheck quick v3 (at ${SECONDS}s)"
MAMBA_SSD_KERNELS=v3 timeout "$(cap 50)" compute-sanitizer --tool memcheck "$TB/test_ssd_cuda" --quick > "$OUT/memcheck.log" 2>&1 || rc=1
grep -E "ERROR SUMMARY|SUMMARY|FAIL" "$OUT/memcheck.log" | head
echo "=== memcheck of the gated norm's CUDA tests (at ${SECONDS}s)"
timeout "$(cap 60)" compute-sanitizer --tool memcheck --print-limit 20 "$APP/Microsoft.ML.Mamba.Tests" \
  --filter-class "*CudaGatedRmsNormTests" > "$OUT/memcheck_gated_norm.log" 2>&1 || rc=1
grep -E "ERROR SUMMARY|total:|failed:|succeeded:" "$OUT/memcheck_gated_norm.log"
if wait "$BASE"; then
  nvcc -O3 -std=c++17 -arch=sm_90 -I native/include native/tests/cuda/bench_decoder_cuda.cu -o "$TB/bench_base" \
    -L/tmp/nb_base -lmamba_native -Xlinker -rpath -Xlinker /tmp/nb_base > "$OUT/bench-base-build.log" 2>&1 || rc=1
else tail -5 "$OUT/base-build.log"; fi
echo "=== bench_decoder_cuda merged (new) vs main (base), GPU ms per step (at ${SECONDS}s)"
for a in mamba2 mamba1; do for v in new base; do
  bin=$TB/bench_decoder_cuda; lib=/tmp/nb; [ $v = base ] && { bin=$TB/bench_base; lib=/tmp/nb_base; }
  [ -x "$bin" ] || continue
  LD_LIBRARY_PATH=$lib:$LD_LIBRARY_PATH timeout "$(cap 15)" "$bin" --arch $a 24 768 50280 1,16 > "$OUT/bd_${a}_$v.log" 2>&1 || rc=1
  echo "--- $a $v"; grep -E "batch" "$OUT/bd_${a}_$v.log" | cut -c1-170
done; done
echo "=== training bf16 8x1024 (at ${SECONDS}s)"
for a in mamba2 mamba2-separate mamba1; do
  arch=${a%-separate}; pass=$([ $a = mamba2-separate ] && echo separate || echo chain)
  MAMBA_SSD_PASS=$pass timeout "$(cap 50)" "$APP/Mamba.Benchmarks" train --device cuda --architecture $arch --dtype bf16 \
    --batch 8 --length 1024 --steps 10 --phases 2 --no-memory > "$OUT/train_$a.log" 2>&1 || rc=1
  echo "--- $a"; grep -iE "tokens/s|error|phases over" "$OUT/train_$a.log" | cut -c1-230 | tail -3
done
echo "=== Mamba-2 timeline (at ${SECONDS}s)"
[ $((BUDGET - SECONDS)) -gt 40 ] && decoder_timeline "$TB/bench_decoder_cuda" mamba2 1,16 $((BUDGET - SECONDS - 5)) 40
echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
