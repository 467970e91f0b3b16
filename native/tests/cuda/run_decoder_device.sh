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
mkdir -p "$OUT"
BUDGET=${BUDGET:-540}
left() { local l=$((BUDGET - SECONDS)); echo $((l > 5 ? l : 5)); }
cap() { local want=$1 l; l=$(left); echo $((want < l ? want : l)); }
rc=0
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
[ -f .gpu/apps.tar.xz ] || { echo "no .gpu/apps.tar.xz: stage the apps first (see the header) and carry .gpu"; exit 2; }

echo "=== 1. build"
TB=/tmp/decoder-tests
mkdir -p "$TB"
(cd native && nvcc -O3 -std=c++17 -arch=sm_90 -I include -I src -DMAMBA_NATIVE_BUILD -Xptxas=-v \
   tests/cuda/test_decoder_gemv_cuda.cu src/common/errors.cpp -o "$TB/test_decoder_gemv_cuda") > "$OUT/test-build.log" 2>&1 &
TEST_BUILD=$!
# shellcheck source=/dev/null
source tools/gpu/device-env.sh || { echo "build failed: see $OUT/native-build.log"; exit 1; }
nvcc -O3 -std=c++17 -arch=sm_90 -I native/include native/tests/cuda/bench_decoder_cuda.cu -o "$TB/bench_decoder_cuda" \
  -L/tmp/nb -lmamba_native -Xlinker -rpath -Xlinker /tmp/nb > "$OUT/bench-build.log" 2>&1 || { rc=1; tail "$OUT/bench-build.log"; }
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
for pdl in 1 0 1 0; do
  MAMBA_DECODER_PDL=$pdl timeout "$(cap 45)" "$TB/bench_decoder_cuda" 24 768 50280 1,16,64 \
    >> "$OUT/bench_decoder_pdl$pdl.log" 2>&1 || rc=1
done
for pdl in 1 0; do echo "--- PDL $pdl"; grep -E "^GPU|batch" "$OUT/bench_decoder_pdl$pdl.log" | cut -c1-190; done

echo "=== 4. C# decoder tests"
timeout "$(cap 160)" "$APP/Microsoft.ML.Mamba.Tests" --filter-class "*CudaMamba2DecoderTests" --filter-class "*CudaDecoderTests" \
  --filter-class "*DecoderArgumentTests" --filter-class "*CudaSamplingTests" --filter-class "*CudaMamba2Tests" \
  --no-ansi > "$OUT/tests.log" 2>&1 || rc=1
grep -E "^failed " -A8 "$OUT/tests.log" | head -60
grep -E "total:|failed:|succeeded:|skipped:" "$OUT/tests.log"

echo "=== 5. DecodeBenchmark (prompt 1024, 128 greedy tokens, best of 2)"
B="$APP/DecodeBenchmark"
timeout "$(cap 110)" "$B" --device cuda --architecture mamba2 --dtype fp32,bf16 --batches 1,16 --paths native,torch \
  --repeats 2 > "$OUT/bench_mamba2.log" 2>&1 || rc=1
timeout "$(cap 110)" "$B" --device cuda --architecture mamba1 --dtype fp32,bf16 --batches 1,16,64 --paths native,torch \
  --repeats 2 > "$OUT/bench_mamba1.log" 2>&1 || rc=1
for a in mamba2 mamba1; do
  echo "--- $a"
  grep -E "^Model:|tokens/s|identical" "$OUT/bench_$a.log" | cut -c1-170
done

echo "=== 6. compute-sanitizer memcheck"
[ $T_OK = 1 ] && timeout "$(cap 60)" compute-sanitizer --tool memcheck --print-limit 20 "$TB/test_decoder_gemv_cuda" --quick \
  > "$OUT/memcheck_gemv.log" 2>&1 || rc=1
grep -E "ERROR SUMMARY|SUMMARY" "$OUT/memcheck_gemv.log"
timeout "$(cap 90)" compute-sanitizer --tool memcheck --print-limit 20 "$APP/Microsoft.ML.Mamba.Tests" \
  --filter-method "*CudaMamba2DecoderTests.LogitsAndStatesStayCloseToTheTorchSharpStepTeacherForced" \
  > "$OUT/memcheck.log" 2>&1 || rc=1
grep -E "ERROR SUMMARY|total:|failed:|succeeded:" "$OUT/memcheck.log"

echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
