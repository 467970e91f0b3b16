#!/bin/bash
# One device call for the CUDA gated RMSNorm (gated_rms_norm.cu): its Category=Cuda tests with the SSD and Mamba-2
# path tests beside them, memcheck of its tests, Mamba.Benchmarks gated-norm (native against TorchSharp's ops) and
# bf16 training of both architectures at 130M, twice each, alternating.
# Here first: tools/gpu/stage-apps.sh tests/Microsoft.ML.Mamba.Tests benchmarks/Mamba.Benchmarks
# Device call, carrying [".gpu"]: bash native/tests/cuda/run_gated_norm_device.sh   (logs to $OUT)
set -u -o pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/ca}
BUDGET=${BUDGET:-400}
source native/tests/cuda/device_steps.sh
device_begin
source tools/gpu/device-env.sh || { tail -20 "$OUT/native-build.log"; exit 1; }
echo "lib built at ${SECONDS}s"
csharp_tests gn-tests.log 90 --filter-class "*CudaGatedRmsNormTests" --filter-class "*CudaSsdTests" \
  --filter-class "*Mamba2PathComparisonTests"
timeout "$(cap 90)" compute-sanitizer --tool memcheck --print-limit 20 "$APP/Microsoft.ML.Mamba.Tests" \
  --filter-class "*CudaGatedRmsNormTests" > "$OUT/memcheck.log" 2>&1 || rc=1
grep -E "ERROR SUMMARY|total:|failed:" "$OUT/memcheck.log"
echo "=== gated-norm (at ${SECONDS}s)"
timeout "$(cap 60)" "$APP/Mamba.Benchmarks" gated-norm --device cuda --batch 8 --length 1024 --dtypes bf16,fp32 \
  --reps 20 > "$OUT/gated_norm.log" 2>&1 || rc=1
grep -E "^\| (native|reference)" "$OUT/gated_norm.log"
for a in mamba2 mamba1 mamba2 mamba1; do
  echo "--- train $a (at ${SECONDS}s)"
  timeout "$(cap 60)" "$APP/Mamba.Benchmarks" train --device cuda --architecture $a --dtype bf16 --batch 8 \
    --length 1024 --steps 20 --no-memory > "$OUT/train_$a.log" 2>&1 || rc=1
  grep -E "^\| [0-9]" "$OUT/train_$a.log" | cut -c1-120
done
echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
