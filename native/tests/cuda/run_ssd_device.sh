#!/bin/bash
# The Mamba-2 SSD CUDA checks in one short device call (sm_90): the SSD tests (linked straight from the SSD
# sources, so they need not wait for the rest of the library), compute-sanitizer memcheck and racecheck on the
# quick subset, then the benchmark against the full library (Mamba-1 scan included), built meanwhile.
# Run from anywhere; logs go to $OUT when set (the device tool), else ./build-ssd/logs.
# SKIP_SAN=1 skips the sanitizers, SKIP_BENCH=1 the library build and the benchmark.
set -u -o pipefail
cd "$(dirname "$0")/../.."
LOG=${OUT:-build-ssd/logs}
BLD=${BLD:-/tmp/ssd-build}
mkdir -p "$LOG" "$BLD"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
nvcc --version | tail -1
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  (cmake -S . -B "$BLD/lib" -DMAMBA_CUDA=ON -DMAMBA_CUDA_ARCHITECTURES=90 > "$LOG/build_lib.log" 2>&1 &&
    cmake --build "$BLD/lib" -j 10 >> "$LOG/build_lib.log" 2>&1) &
  LIB_PID=$!
fi
NV="nvcc -O3 -std=c++17 -arch=sm_90 -I include -I src -DMAMBA_NATIVE_BUILD"
pids=()
for f in src/cuda/ssd_api.cu src/cuda/ssd_step.cu src/common/errors.cpp src/common/abi_validate.cpp \
         src/common/ssd_validate.cpp tests/cuda/test_ssd_cuda.cu; do
  $NV -Xptxas=-v -c "$f" -o "$BLD/$(basename "$f").o" > "$BLD/$(basename "$f").log" 2>&1 &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
cat "$BLD"/*.log > "$LOG/build_ssd.log"
[ $rc = 0 ] || { grep -E "error" -A3 "$LOG/build_ssd.log" | head -40; exit 1; }
# Registers and spills of the SSD kernels.
grep -E "Compiling entry|Used [0-9]+ registers|spill" "$BLD/ssd_api.cu.log" "$BLD/ssd_step.cu.log" |
  sed -E 's/.*Compiling entry function .(_Z[0-9]+)?([^ ]*).*/\2/; s/ptxas info *: //' | cut -c1-120 > "$LOG/ptxas_ssd.txt"
grep -E "spill" "$LOG/ptxas_ssd.txt" | sort | uniq -c
$NV "$BLD"/*.o -o "$BLD/test_ssd_cuda" || exit 1
echo "=== tests"
timeout 150 "$BLD/test_ssd_cuda" > "$LOG/test_ssd.log" 2>&1 || rc=1
grep -E "FAIL|SUMMARY" "$LOG/test_ssd.log"
echo "=== tests, fp32 on 3xTF32 tensor cores"
MAMBA_SSD_FP32=3xtf32 timeout 150 "$BLD/test_ssd_cuda" > "$LOG/test_ssd_3xtf32.log" 2>&1 || rc=1
grep -E "FAIL|SUMMARY" "$LOG/test_ssd_3xtf32.log"
if [ "${SKIP_SAN:-0}" != 1 ]; then
  echo "=== compute-sanitizer (quick subset)"
  timeout 90 compute-sanitizer --tool memcheck --leak-check full "$BLD/test_ssd_cuda" --quick > "$LOG/memcheck.log" 2>&1 || rc=1
  grep -E "ERROR SUMMARY|LEAK SUMMARY|SUMMARY|FAIL" "$LOG/memcheck.log"
  timeout 90 compute-sanitizer --tool racecheck --racecheck-report all "$BLD/test_ssd_cuda" --quick > "$LOG/racecheck.log" 2>&1 || rc=1
  grep -E "RACECHECK SUMMARY|SUMMARY|FAIL" "$LOG/racecheck.log"
fi
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  echo "=== benchmark"
  wait "$LIB_PID" || { tail -30 "$LOG/build_lib.log"; exit 1; }
  nvcc -O3 -std=c++17 -arch=sm_90 -I include tests/cuda/bench_ssd_cuda.cu -o "$BLD/bench_ssd_cuda" -L"$BLD/lib" \
    -lmamba_native -Xlinker -rpath -Xlinker "$BLD/lib" || exit 1
  timeout 180 "$BLD/bench_ssd_cuda" 2>&1 | tee "$LOG/bench_ssd.log" || rc=1
  echo "=== ncu: time per kernel, one bf16 forward and backward"
  timeout 90 ncu --clock-control none --metrics gpu__time_duration.sum -k regex:"chunk_|state_pass|param_grads|bc_grads" \
    "$BLD/bench_ssd_cuda" --profile > "$LOG/ncu_ssd.txt" 2>&1
  grep -E "_kernel|gpu__time_duration" "$LOG/ncu_ssd.txt" | sed -E 's/ +/ /g' | cut -c1-110
fi
exit $rc
