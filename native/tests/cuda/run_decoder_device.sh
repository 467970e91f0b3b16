#!/bin/bash
# The whole-model CUDA decoders (Mamba-1 and Mamba-2, issues #20 and #21) checked in ONE device call:
#   1. builds libmamba_native (sm_90) and unpacks the staged apps (tools/gpu/device-env.sh); beside it, the native
#      programs: test_decoder_gemv_cuda (the tensor-core GEMV against fp64) and bench_decoder_cuda
#   2. test_decoder_gemv_cuda
#   3. bench_decoder_cuda: the Mamba-1 decoder's GPU time per step at batch 1, 16, 64, with programmatic dependent
#      launch and without (MAMBA_DECODER_PDL=0), alternating
#   4. the C# decoder tests (Mamba-1, Mamba-2, arguments, sampling, the Mamba-2 model on CUDA)
#   5. DecodeBenchmark through the generation loop: Mamba-2 and Mamba-1, native decoder and TorchSharp step
#   6. compute-sanitizer memcheck on the GEMV test's quick subset and one teacher-forced Mamba-2 decoder test
# Here first: tools/gpu/stage-apps.sh tests/Microsoft.ML.Mamba.Tests benchmarks/DecodeBenchmark
# Device call, carrying [".gpu"]: bash native/tests/cuda/run_decoder_device.sh   (logs to $OUT; BUDGET seconds, 540)
set -u -o pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/decoder-out}
BUDGET=${BUDGET:-540}
# shellcheck source=native/tests/cuda/device_steps.sh
source native/tests/cuda/device_steps.sh
device_begin

echo "=== 1. build"
TB=/tmp/decoder-tests
mkdir -p "$TB"
(cd native && nvcc -O3 -std=c++17 -arch=sm_90 -I include -I src -DMAMBA_NATIVE_BUILD -Xptxas=-v \
   tests/cuda/test_decoder_gemv_cuda.cu src/common/errors.cpp -o "$TB/test_decoder_gemv_cuda") > "$OUT/test-build.log" 2>&1 &
TEST_BUILD=$!
# shellcheck source=/dev/null
source tools/gpu/device-env.sh || { echo "build failed: see $OUT/native-build.log"; exit 1; }
build_bench_decoder "$TB/bench_decoder_cuda"
T_OK=1
wait "$TEST_BUILD" || { grep -E "error" -A3 "$OUT/test-build.log" | head -30; rc=1; T_OK=0; }
echo "built in ${SECONDS}s"
cuobjdump --dump-resource-usage /tmp/nb/libmamba_native.so 2>&1 |
  awk '/Function/ {name=$2} /REG:/ && name ~ /decoder/ {print name, $0}' | grep -oE "REG:[0-9]+ STACK:[0-9]+|LOCAL:[0-9]+" |
  paste - - | sort | uniq -c | sort -rn | head -8

echo "=== 2. test_decoder_gemv_cuda"
[ $T_OK = 1 ] && { timeout "$(cap 90)" "$TB/test_decoder_gemv_cuda" > "$OUT/test_gemv.log" 2>&1 || rc=1; }
grep -E "^GPU|^FAIL|SUMMARY|CUDA error" "$OUT/test_gemv.log" | head -30

echo "=== 3. bench_decoder_cuda (Mamba-1 130M shape, random weights), programmatic dependent launch on / off"
bench_decoder_pdl "$TB/bench_decoder_cuda" 1,16,64 45 2

echo "=== 4. C# decoder tests"
csharp_tests tests.log 160 --filter-class "*CudaMamba2DecoderTests" --filter-class "*CudaDecoderTests" \
  --filter-class "*DecoderArgumentTests" --filter-class "*CudaSamplingTests" --filter-class "*CudaMamba2Tests"

echo "=== 5. DecodeBenchmark (prompt 1024, 128 greedy tokens, best of 2)"
decode_benchmark mamba2 1,16 110
decode_benchmark mamba1 1,16,64 110

echo "=== 6. compute-sanitizer memcheck"
[ $T_OK = 1 ] && timeout "$(cap 60)" compute-sanitizer --tool memcheck --print-limit 20 "$TB/test_decoder_gemv_cuda" --quick \
  > "$OUT/memcheck_gemv.log" 2>&1 || rc=1
grep -E "ERROR SUMMARY|SUMMARY" "$OUT/memcheck_gemv.log"
memcheck_decoder_test 90

echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
