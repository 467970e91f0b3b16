#!/bin/bash
# Builds the library (CMake, sm_90) and the CUDA test/benchmark programs, then runs the tests, the tests
# under compute-sanitizer (memcheck, racecheck; quick subset) and the benchmarks. Run from native/.
# Logs go to $OUT when it is set (the device tool), else to ./build-cuda/logs.
# FAST=1 (short device budgets): sanitizers get 60 s each, ncu and the PyTorch reference are skipped.
set -u -o pipefail
cd "$(dirname "$0")/../.."
LOG=${OUT:-build-cuda/logs}
mkdir -p "$LOG" build-cuda
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader
nvcc --version | tail -1
cmake -S . -B build-cuda -G Ninja -DMAMBA_CUDA=ON -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" -DMAMBA_CUDA_ARCHITECTURES=90 \
  -DCMAKE_CUDA_FLAGS="-Xptxas=-v" > "$LOG/build.log" 2>&1 &&
  cmake --build build-cuda >> "$LOG/build.log" 2>&1 || { tail -60 "$LOG/build.log"; exit 1; }
# Resource usage of the kernels (full report in build.log): register counts and any spills.
grep -oE "Used [0-9]+ registers" "$LOG/build.log" | sort | uniq -c | sort -k3 -n | tail -8
grep -E "bytes spill" "$LOG/build.log" | grep -vE " 0 bytes spill stores, 0 bytes spill loads" | sort | uniq -c | head -5
NV="nvcc -O3 -std=c++17 -arch=sm_90 -I include"
LIBS="-Lbuild-cuda -lmamba_native -Xlinker -rpath -Xlinker $PWD/build-cuda"
$NV tests/cuda/test_scan_cuda.cu -o build-cuda/test_scan_cuda $LIBS 2>&1 | grep -v "^$" &
$NV tests/cuda/bench_scan_cuda.cu -o build-cuda/bench_scan_cuda $LIBS 2>&1 | grep -v "^$" &
$NV tests/cuda/test_decode_step_cuda.cu -o build-cuda/test_decode_step_cuda $LIBS 2>&1 | grep -v "^$" &
$NV tests/cuda/test_ssd_cuda.cu -o build-cuda/test_ssd_cuda $LIBS 2>&1 | grep -v "^$" &
$NV -I src -DMAMBA_NATIVE_BUILD tests/cuda/test_decoder_gemv_cuda.cu src/common/errors.cpp -o build-cuda/test_decoder_gemv_cuda 2>&1 | grep -v "^$" &
$NV tests/cuda/bench_ssd_cuda.cu -o build-cuda/bench_ssd_cuda $LIBS 2>&1 | grep -v "^$" &
wait
rc=0
if [ "${FAST:-0}" = 1 ]; then SAN_S=60; else SAN_S=200; fi
echo "=== tests"
build-cuda/test_scan_cuda 2>&1 | tee "$LOG/test.log" || rc=1
build-cuda/test_decode_step_cuda 2>&1 | tee "$LOG/test_decode_step.log" || rc=1
build-cuda/test_ssd_cuda 2>&1 | tee "$LOG/test_ssd.log" || rc=1
build-cuda/test_decoder_gemv_cuda 2>&1 | tee "$LOG/test_decoder_gemv.log" || rc=1
echo "=== benchmark"
build-cuda/bench_scan_cuda "$LOG/bench.csv" 2>&1 | tee "$LOG/bench.log" || rc=1
build-cuda/bench_ssd_cuda 2>&1 | tee "$LOG/bench_ssd.log" || rc=1
echo "=== compute-sanitizer memcheck (quick subset)"
timeout $SAN_S compute-sanitizer --tool memcheck --leak-check full build-cuda/test_scan_cuda --quick > "$LOG/memcheck.log" 2>&1 || rc=1
timeout $SAN_S compute-sanitizer --tool memcheck build-cuda/test_decode_step_cuda --quick >> "$LOG/memcheck.log" 2>&1 || rc=1
timeout $SAN_S compute-sanitizer --tool memcheck build-cuda/test_ssd_cuda --quick >> "$LOG/memcheck.log" 2>&1 || rc=1
grep -E "SUMMARY|ERROR SUMMARY|FAIL" "$LOG/memcheck.log"
echo "=== compute-sanitizer racecheck (quick subset)"
timeout $SAN_S compute-sanitizer --tool racecheck --racecheck-report all build-cuda/test_scan_cuda --quick > "$LOG/racecheck.log" 2>&1 || rc=1
timeout $SAN_S compute-sanitizer --tool racecheck --racecheck-report all build-cuda/test_decode_step_cuda --quick >> "$LOG/racecheck.log" 2>&1 || rc=1
timeout $SAN_S compute-sanitizer --tool racecheck --racecheck-report all build-cuda/test_ssd_cuda --quick >> "$LOG/racecheck.log" 2>&1 || rc=1
grep -E "SUMMARY|RACECHECK SUMMARY|FAIL" "$LOG/racecheck.log"
[ "${FAST:-0}" = 1 ] && exit $rc
echo "=== ncu (fp32 (8,2048,2048,16): forward, checkpoint pass, backward)"
timeout 120 ncu --clock-control none --section SpeedOfLight --section Occupancy --section WarpStateStats \
  --section LaunchStats -k regex:scan_ -c 3 build-cuda/bench_scan_cuda --profile > "$LOG/ncu.txt" 2>&1
grep -E "scan_(fwd|bwd)_kernel|Duration|Registers Per|Achieved Occupancy|Theoretical Occ|Compute \(SM\) Th|Memory Through|Warp Cycles Per Issued" "$LOG/ncu.txt" | sed -E 's/ +/ /g' | cut -c1-150
PYTHONUNBUFFERED=1 timeout 400 python3 tests/cuda/bench_reference.py "$LOG/bench.csv" 2>&1 | tee "$LOG/bench_ref.log" || rc=1
exit $rc
