#!/bin/bash
# The SSD kernels (#21) and the 2-byte scan forward (#20) checked in ONE device call, most important first: the SSD
# tests in every kernel mode and the benchmark (run_ssd_device.sh without its sanitizers), the scan's tests and
# old-vs-new forward benchmark (run_scan_bf16_device.sh), then the SSD sanitizers (v3 kernels) on the quick subset
# with the time that is left.
# Device call: bash native/tests/cuda/run_kernels_device.sh   (logs to $OUT/ssd and $OUT/scan; BUDGET seconds, 570)
set -u -o pipefail
cd "$(dirname "$0")/../../.."
OUT=${OUT:-/tmp/kernels-out}
BUDGET=${BUDGET:-570}
left() { local l=$((BUDGET - SECONDS)); echo $((l > 5 ? l : 5)); }
rc=0
mkdir -p "$OUT/ssd" "$OUT/scan"
echo "##### SSD (tests, benchmark, ncu)"
t=$(( $(left) < 300 ? $(left) : 300 ))
OUT="$OUT/ssd" SKIP_SAN=1 BUDGET=$((t - 5)) timeout "$t" bash native/tests/cuda/run_ssd_device.sh || rc=1
echo "##### scan forward, 2-byte vectors (at ${SECONDS}s)"
OUT="$OUT/scan" timeout "$(( $(left) < 210 ? $(left) : 210 ))" bash native/tests/cuda/run_scan_bf16_device.sh || rc=1
echo "##### SSD sanitizers, v3 kernels (at ${SECONDS}s)"
T=/tmp/ssd-build/test_ssd_cuda
if [ -x "$T" ]; then
  MAMBA_SSD_KERNELS=v3 timeout "$(( $(left) / 2 ))" compute-sanitizer --tool memcheck --leak-check full "$T" --quick \
    > "$OUT/ssd/memcheck.log" 2>&1 || rc=1
  grep -E "ERROR SUMMARY|LEAK SUMMARY|SUMMARY|FAIL" "$OUT/ssd/memcheck.log"
  MAMBA_SSD_KERNELS=v3 timeout "$(left)" compute-sanitizer --tool racecheck --racecheck-report all "$T" --quick \
    > "$OUT/ssd/racecheck.log" 2>&1 || rc=1
  grep -E "RACECHECK SUMMARY|SUMMARY|FAIL" "$OUT/ssd/racecheck.log"
fi
echo "##### done in ${SECONDS}s, rc $rc"
exit $rc
