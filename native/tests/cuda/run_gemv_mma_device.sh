#!/bin/bash
# Issue #20: the decoder's tensor-core GEMV (src/cuda/decoder_gemv_mma.cuh) checked in ONE device call (< 6 min):
#   1. builds test_decoder_gemv_cuda straight from the sources (registers and spills from ptxas) while
#      tools/gpu/device-env.sh builds libmamba_native (sm_90) and unpacks the staged apps
#   2. test_decoder_gemv_cuda: the kernel against fp64 references (odd shapes, both prologues, argmax, dispatch)
#   3. DecodeBenchmark Mamba-1: native decoder and TorchSharp step, bf16 and fp32, batch 1, 16, 64 (alone on the GPU)
#   4. the decoder tests CudaDecoderTests and CudaMamba2DecoderTests, with compute-sanitizer memcheck (then
#      racecheck, if time is left) on test_decoder_gemv_cuda --quick running beside them (none is timed)
#   5. DecodeBenchmark Mamba-2, bf16, batch 16, if time is left
# Here first (a checkout where tools/gpu/stage-apps.sh works):
#   tools/gpu/stage-apps.sh tests/Microsoft.ML.Mamba.Tests benchmarks/DecodeBenchmark
# Device call, carrying [".gpu"]:  bash native/tests/cuda/run_gemv_mma_device.sh
# Logs go to $OUT (else /tmp/gemv-mma-out). Every step has a timeout inside one budget (BUDGET seconds, default 345).
# Exit status: 0 when every step that ran passed.
set -u -o pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/gemv-mma-out}
mkdir -p "$OUT"
BUDGET=${BUDGET:-345}
left() { local l=$((BUDGET - SECONDS)); echo $((l > 5 ? l : 5)); }
cap() { local want=$1 l; l=$(left); echo $((want < l ? want : l)); }
rc=0
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
nvcc --version | tail -1
[ -f .gpu/apps.tar.xz ] || { echo "no .gpu/apps.tar.xz: stage the apps first (see the header) and carry .gpu"; exit 2; }

echo "=== 1. build: the GEMV test (nvcc) beside the library and the apps"
TB=/tmp/gemv-mma-test
mkdir -p "$TB"
EXTRA=""
# CUDA 11's front end cannot parse libstdc++ 12's <random> (unsigned __int128): hide the type from it.
nvcc --version | grep -q "release 11" && EXTRA="-U__SIZEOF_INT128__"
(cd native && nvcc -O3 -std=c++17 -arch=sm_90 $EXTRA -I include -I src -DMAMBA_NATIVE_BUILD -Xptxas=-v \
   tests/cuda/test_decoder_gemv_cuda.cu src/common/errors.cpp -o "$TB/test_decoder_gemv_cuda") > "$OUT/test-build.log" 2>&1 &
TEST_BUILD=$!
# shellcheck source=/dev/null
source tools/gpu/device-env.sh || { echo "library build failed: see $OUT/native-build.log"; rc=1; }
T_OK=1
wait "$TEST_BUILD" || { echo "test build failed:"; grep -E "error" -A3 "$OUT/test-build.log" | head -30; rc=1; T_OK=0; }
echo "built in ${SECONDS}s"
# Registers and spills of the tensor-core kernel's instantiations (NT n-tiles, KC chunks, prologue, epilogue).
grep -E "Compiling entry|Used [0-9]+ registers|spill" "$OUT/test-build.log" | grep -A2 "gemv_mma_kernel" |
  grep -E "Compiling|registers|spill" | sed -E "s/.*gemv_mma_kernelILi([0-9]+)ELi([0-9]+)E(.{0,60}).*/NT \1 KC \2 \3/; s/ptxas info *: //" |
  paste - - - > "$OUT/ptxas-gemv-mma.txt"
cat "$OUT/ptxas-gemv-mma.txt" | cut -c1-200

echo "=== 2. test_decoder_gemv_cuda"
[ $T_OK = 1 ] && { timeout "$(cap 120)" "$TB/test_decoder_gemv_cuda" > "$OUT/test_gemv.log" 2>&1 || rc=1; }
grep -E "^GPU|^FAIL|SUMMARY|CUDA error" "$OUT/test_gemv.log" | head -40

if [ -n "${APP:-}" ] && [ -x "$APP/Microsoft.ML.Mamba.Tests" ]; then
  echo "=== 3. DecodeBenchmark Mamba-1 (prompt 1024, 128 greedy tokens, best of 2; the GPU to itself)"
  B="$APP/DecodeBenchmark"
  timeout "$(cap 130)" "$B" --device cuda --architecture mamba1 --dtype bf16,fp32 --batches 1,16,64 --paths native,torch \
    --repeats 2 > "$OUT/bench_mamba1.log" 2>&1 || rc=1
  grep -E "^Model:|tokens/s|identical" "$OUT/bench_mamba1.log" | cut -c1-170

  echo "=== 4. decoder tests, memcheck (then racecheck) beside them"
  SAN_END=$((SECONDS + $(cap 150)))
  ([ $T_OK = 1 ] || exit 1
   timeout "$(cap 100)" compute-sanitizer --tool memcheck --error-exitcode 3 --print-limit 20 "$TB/test_decoder_gemv_cuda" \
     --quick > "$OUT/memcheck.log" 2>&1 || exit 1
   l=$((SAN_END - SECONDS)); [ $l -gt 10 ] || { echo "racecheck: no time left" > "$OUT/racecheck.log"; exit 0; }
   timeout "$l" compute-sanitizer --tool racecheck --error-exitcode 3 --racecheck-report all "$TB/test_decoder_gemv_cuda" \
     --quick > "$OUT/racecheck.log" 2>&1
   r=$?
   [ $r = 124 ] && { echo "racecheck: timed out" >> "$OUT/racecheck.log"; exit 0; }
   exit $r) &
  SAN=$!
  timeout "$(cap 150)" "$APP/Microsoft.ML.Mamba.Tests" --filter-class "*CudaDecoderTests" \
    --filter-class "*CudaMamba2DecoderTests" > "$OUT/tests.log" 2>&1 || rc=1
  grep -E "^failed " -A8 "$OUT/tests.log" | head -60
  grep -E "total:|failed:|succeeded:|skipped:" "$OUT/tests.log"
  wait "$SAN" || rc=1
  grep -E "ERROR SUMMARY|SUMMARY|^FAIL" "$OUT/memcheck.log"
  grep -E "RACECHECK SUMMARY|SUMMARY|^FAIL|racecheck:" "$OUT/racecheck.log"

  if [ "$(left)" -gt 45 ]; then
    echo "=== 5. DecodeBenchmark Mamba-2, bf16, batch 16"
    timeout "$(cap 90)" "$B" --device cuda --architecture mamba2 --dtype bf16 --batches 16 --paths native,torch \
      --repeats 2 > "$OUT/bench_mamba2.log" 2>&1 || rc=1
    grep -E "^Model:|tokens/s|identical" "$OUT/bench_mamba2.log" | cut -c1-170
  else
    echo "=== 5. skipped: $(left)s left"
  fi
else
  echo "=== 3-5 skipped: no apps (library build failed?)"
  [ $T_OK = 1 ] && { timeout "$(cap 150)" compute-sanitizer --tool memcheck --error-exitcode 3 --print-limit 20 \
    "$TB/test_decoder_gemv_cuda" --quick > "$OUT/memcheck.log" 2>&1 || rc=1; }
  grep -E "ERROR SUMMARY|SUMMARY|^FAIL" "$OUT/memcheck.log"
fi

echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
