#!/bin/bash
# Issue #21: the Mamba-2 whole-model CUDA decoder (mamba2_decoder_create_cuda) checked in ONE device call:
#   1. builds libmamba_native with its CUDA kernels (sm_90) and unpacks the staged apps (tools/gpu/device-env.sh)
#   2. resource usage (registers, stack, local memory) of the decoder kernels, from the built library
#   3. the decoder tests: CudaMamba2DecoderTests, CudaDecoderTests (Mamba-1, after the shared-code refactor),
#      the argument tests of both, CudaSamplingTests and CudaMamba2Tests
#   4. DecodeBenchmark, Mamba-2 (native decoder and TorchSharp step) and Mamba-1 (native decoder), batch 1 and 16,
#      fp32 and bf16: the issue's goal is Mamba-2's batch-1 tokens/s >= Mamba-1's
#   5. compute-sanitizer memcheck on the teacher-forced Mamba-2 decoder test (fp32, bf16, batch 3, vocab 33,000)
# Here first (a checkout where tools/gpu/stage-apps.sh works):
#   tools/gpu/stage-apps.sh tests/Microsoft.ML.Mamba.Tests benchmarks/DecodeBenchmark
# Device call, carrying [".gpu"]:  bash native/tests/cuda/run_m2_decoder_device.sh
# Logs go to $OUT (else /tmp/m2dec-out). Every step has a timeout inside one budget (BUDGET seconds, default 570), so
# the call ends inside the device's 10 minutes with what finished written out. Exit status: 0 when every step passed.
set -u -o pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/m2dec-out}
mkdir -p "$OUT"
BUDGET=${BUDGET:-480}
left() { local l=$((BUDGET - SECONDS)); echo $((l > 5 ? l : 5)); }
cap() { local want=$1 l; l=$(left); echo $((want < l ? want : l)); }
rc=0
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
[ -f .gpu/apps.tar.xz ] || { echo "no .gpu/apps.tar.xz: stage the apps first (see the header) and carry .gpu"; exit 2; }

echo "=== 1. build (sm_90) and unpack"
# shellcheck source=/dev/null
source tools/gpu/device-env.sh || { echo "build failed: see $OUT/native-build.log"; exit 1; }
echo "built in ${SECONDS}s"

echo "=== 2. resource usage of the decoder kernels (REG, STACK, LOCAL; spills show as LOCAL/STACK > 0)"
cuobjdump --dump-resource-usage /tmp/nb/libmamba_native.so > "$OUT/resource-usage.txt" 2>&1
# One "Function <mangled>:" line, then its "REG:.. STACK:.. SHARED:.. LOCAL:.." line; keep the decoder's kernels.
awk '/Function/ {name=$2} /REG:/ && name ~ /decoder/ {print name, $0}' "$OUT/resource-usage.txt" |
  sed -E 's/_ZN5mamba4cuda7decoder//; s/(_GLOBAL__N__[0-9a-f]+_[0-9]+_)//' | cut -c1-220 > "$OUT/resource-usage-decoder.txt"
wc -l < "$OUT/resource-usage-decoder.txt"
grep -E "ssd_row_kernel|InProj2|GatedNorm|OutProj2" "$OUT/resource-usage-decoder.txt" | grep -oE "REG:[0-9]+ STACK:[0-9]+|LOCAL:[0-9]+" |
  paste - - | sort | uniq -c | sort -rn | head -12

echo "=== 2b. the Mamba-1 decoder alone (bench_decoder_cuda), with and without programmatic dependent launch"
nvcc -O3 -std=c++17 -arch=sm_90 -I native/include native/tests/cuda/bench_decoder_cuda.cu -o /tmp/bench_decoder_cuda \
  -L/tmp/nb -lmamba_native -Xlinker -rpath -Xlinker /tmp/nb > "$OUT/bench_decoder_build.log" 2>&1 || rc=1
for pdl in 1 0 1; do
  MAMBA_DECODER_PDL=$pdl timeout "$(cap 60)" /tmp/bench_decoder_cuda 24 768 50280 1,16,64 > "$OUT/bench_decoder_pdl$pdl.log" 2>&1 || rc=1
  cut -c1-200 "$OUT/bench_decoder_pdl$pdl.log"
done

echo "=== 3. tests"
T="$APP/Microsoft.ML.Mamba.Tests"
timeout "$(cap 180)" "$T" --filter-class "*CudaMamba2DecoderTests" --filter-class "*CudaDecoderTests" \
  --filter-class "*DecoderArgumentTests" --filter-class "*CudaSamplingTests" --filter-class "*CudaMamba2Tests" \
  > "$OUT/tests.log" 2>&1 || rc=1
grep -E "^failed " -A8 "$OUT/tests.log" | head -80
grep -E "total:|failed:|succeeded:|skipped:" "$OUT/tests.log"

echo "=== 4. DecodeBenchmark (prompt 1024, 128 greedy tokens, best of 2)"
B="$APP/DecodeBenchmark"
timeout "$(cap 130)" "$B" --device cuda --architecture mamba2 --dtype fp32,bf16 --batches 1,16 --paths native,torch \
  --repeats 2 > "$OUT/bench_mamba2.log" 2>&1 || rc=1
timeout "$(cap 70)" "$B" --device cuda --architecture mamba1 --dtype fp32,bf16 --batches 1,16 --paths native \
  --repeats 2 > "$OUT/bench_mamba1.log" 2>&1 || rc=1
# The same without programmatic dependent launch between the step's kernels (issue #20: its gain, same machine).
MAMBA_DECODER_PDL=0 timeout "$(cap 70)" "$B" --device cuda --architecture mamba1 --dtype fp32,bf16 --batches 1,16 \
  --paths native --repeats 2 > "$OUT/bench_mamba1_nopdl.log" 2>&1 || rc=1
for a in mamba2 mamba1 mamba1_nopdl; do
  echo "--- $a"
  grep -E "^Model:|tokens/s|identical" "$OUT/bench_$a.log" | cut -c1-170
done

echo "=== 5. compute-sanitizer memcheck (teacher-forced Mamba-2 decoder test)"
timeout "$(cap 100)" compute-sanitizer --tool memcheck --print-limit 20 "$T" \
  --filter-method "*CudaMamba2DecoderTests.LogitsAndStatesStayCloseToTheTorchSharpStepTeacherForced" \
  > "$OUT/memcheck.log" 2>&1 || rc=1
grep -E "ERROR SUMMARY|total:|failed:|succeeded:" "$OUT/memcheck.log"

echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
