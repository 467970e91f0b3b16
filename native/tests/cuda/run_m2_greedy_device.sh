#!/bin/bash
# The bf16 Mamba-2 decoder against the TorchSharp step (issues #20, #21) in ONE device call, under 4 minutes:
#   1. builds libmamba_native (sm_90) and unpacks the staged apps (tools/gpu/device-env.sh)
#   2. the C# Mamba-2 decoder tests: CudaMamba2DecoderTests (the existing ones, the deep 16-layer bf16 model, and
#      DecodeBenchmark's 24 x 768 model from equal states every step, with the report of where the paths part) and
#      the CPU tests of that comparison (Mamba2PathComparisonTests)
#   3. DecodeBenchmark's Mamba-2 rows: fp32 and bf16, batch 1 and 16, native decoder and TorchSharp step, one repeat,
#      with the "identical" lines (and where the differing rows part)
# Here first: tools/gpu/stage-apps.sh tests/Microsoft.ML.Mamba.Tests benchmarks/DecodeBenchmark
# Device call, carrying [".gpu"]: bash native/tests/cuda/run_m2_greedy_device.sh   (logs to $OUT; BUDGET seconds, 230)
set -u -o pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/m2-greedy-out}
BUDGET=${BUDGET:-230}
# shellcheck source=native/tests/cuda/device_steps.sh
source native/tests/cuda/device_steps.sh
device_begin

echo "=== 1. build"
# shellcheck source=/dev/null
source tools/gpu/device-env.sh || { echo "build failed: see $OUT/native-build.log"; exit 1; }
echo "built in ${SECONDS}s"

echo "=== 2. C# Mamba-2 decoder tests"
csharp_tests tests.log 110 --filter-class "*CudaMamba2DecoderTests" --filter-class "*Mamba2PathComparisonTests" \
  --output Detailed
echo "--- the deep and benchmark-shaped comparisons' reports"
grep -E "^\s+(batch [0-9]+|logits at most|per layer|SSM state|step [0-9]+ (row|layer))" "$OUT/tests.log" | cut -c1-240 | head -60

echo "=== 3. DecodeBenchmark, Mamba-2 (prompt 1024, 128 greedy tokens, 1 repeat)"
decode_benchmark mamba2 1,16 100 1
grep -iE "error|exception|not used" "$OUT/bench_mamba2.log" | head -5

echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
