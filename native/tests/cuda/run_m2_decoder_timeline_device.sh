#!/bin/bash
# Mamba-2 against Mamba-1 in the native decoder at batch 1 (issue #21), in ONE short device call:
#   1. builds libmamba_native (sm_90) and unpacks the staged apps (tools/gpu/device-env.sh); beside it
#      bench_decoder_cuda and test_decoder_gemv_cuda (which also checks the Mamba-2 gated-norm prologue bitwise)
#   2. test_decoder_gemv_cuda
#   3. bench_decoder_cuda for both architectures (130M shapes, random weights): GPU time per step, fp32 and bf16, b1/b16
#   4. one token's per-kernel timeline (ncu) of Mamba-2 at b1 and b16, and of Mamba-1 at b1 to set beside it
#   5. the C# Mamba-2 decoder tests (the native decoder against the TorchSharp step)
# Here first: tools/gpu/stage-apps.sh tests/Microsoft.ML.Mamba.Tests
# Device call, carrying [".gpu"]: bash native/tests/cuda/run_m2_decoder_timeline_device.sh   (logs to $OUT; BUDGET s, 420)
set -u -o pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/m2dec-out}
BUDGET=${BUDGET:-420}
# shellcheck source=native/tests/cuda/device_steps.sh
source native/tests/cuda/device_steps.sh
device_begin

echo "=== 1. build"
TB=/tmp/decoder-tests
mkdir -p "$TB"
(cd native && nvcc -O3 -std=c++17 -arch=sm_90 -I include -I src -DMAMBA_NATIVE_BUILD \
   tests/cuda/test_decoder_gemv_cuda.cu src/common/errors.cpp -o "$TB/test_decoder_gemv_cuda") > "$OUT/test-build.log" 2>&1 &
TEST_BUILD=$!
# shellcheck source=/dev/null
source tools/gpu/device-env.sh || { echo "build failed: see $OUT/native-build.log"; exit 1; }
build_bench_decoder "$TB/bench_decoder_cuda"
T_OK=1
wait "$TEST_BUILD" || { grep -E "error" -A3 "$OUT/test-build.log" | head -30; rc=1; T_OK=0; }
echo "built in ${SECONDS}s"

echo "=== 2. test_decoder_gemv_cuda"
[ $T_OK = 1 ] && { timeout "$(cap 60)" "$TB/test_decoder_gemv_cuda" > "$OUT/test_gemv.log" 2>&1 || rc=1; }
grep -E "^GPU|^FAIL|SUMMARY|CUDA error" "$OUT/test_gemv.log" | head -30

echo "=== 3. bench_decoder_cuda, GPU time per step (130M shapes, random weights)"
bench_decoder_arch "$TB/bench_decoder_cuda" mamba2 1,16 40
bench_decoder_arch "$TB/bench_decoder_cuda" mamba1 1,16 40

echo "=== 4. one token's kernels (ncu, MAMBA_BENCH_PROFILE=1; kernels serialised, no launch gaps)"
decoder_timeline "$TB/bench_decoder_cuda" mamba2 1,16 90 40
decoder_timeline "$TB/bench_decoder_cuda" mamba1 1 60 14

echo "=== 5. C# Mamba-2 decoder tests"
csharp_tests tests.log 120 --filter-class "*CudaMamba2DecoderTests" --filter-class "*CudaMamba2Tests"

echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
