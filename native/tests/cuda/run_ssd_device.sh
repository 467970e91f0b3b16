#!/bin/bash
# The Mamba-2 SSD CUDA checks in one short device call (sm_90), in this order: the SSD tests (linked straight
# from the SSD sources, so they need not wait for the rest of the library) in every mode of MODES below; the
# benchmark against the full library (SSD kernels v1, v2, v3 with fp32 and with bf16 states, and the Mamba-1 scan
# in one run), built meanwhile; ncu's time and DRAM bytes per kernel (v3, and v3 with fp32 states);
# compute-sanitizer memcheck and racecheck on the quick subset (v3); ncu's throughput, occupancy and stall
# reasons of v3's chunk state, state passing and chunk gradients. Every step's
# time limit is cut to what is left of BUDGET seconds (default 460), so the whole call stays under 8 minutes.
# Kernel versions (MAMBA_SSD_KERNELS, ssd_api.cu): v1 the first kernels; v2 the second, TF32 products for 2-byte
# inputs; v3 (the default) the same kernels with bf16/f16 operand tiles on mma m16n8k16. fp32 inputs run one
# code in v2 and v3 (FMA, or 3xTF32 with MAMBA_SSD_FP32=3xtf32). v3 stores the passed states of 2-byte inputs in
# the input dtype; MAMBA_SSD_STATES=fp32 keeps them fp32 (ssd_api.cu). v3 computes the chunk states and passes them
# in one chain kernel per direction; MAMBA_SSD_PASS=separate runs its chunk state and state passing kernels.
# Run from anywhere; logs go to $OUT when set (the device tool), else ./build-ssd/logs.
# SKIP_SAN=1 skips the sanitizers, SKIP_BENCH=1 the library build and the benchmark, ONLY_MODES="v3 v3_sep" runs
# only those test modes.
set -u -o pipefail
cd "$(dirname "$0")/../.."
BUDGET=${BUDGET:-460}
# cap N: N seconds, or what is left of the budget when less (0 when under 5: the step is skipped).
cap() { local l=$((BUDGET - SECONDS)); l=$((l < $1 ? l : $1)); echo $((l < 5 ? 0 : l)); }
LOG=${OUT:-build-ssd/logs}
BLD=${BLD:-/tmp/ssd-build}
mkdir -p "$LOG" "$BLD"
rm -f "$BLD/bench_ssd_cuda" "$BLD/test_ssd_cuda"
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
# Registers, spills and static shared memory of each SSD kernel (one line per kernel; the current ones printed).
awk '
/Compiling entry function/ {
  n = $0; sub(/.*function '\''/, "", n); sub(/'\''.*/, "", n)
  ver = (n ~ /ssd2v1/) ? "v1" : (n ~ /ssd[0-9]/ ? "cur" : "")
  k = n; sub(/^_ZN5mamba4cuda3ssd(2v1)?[0-9]+/, "", k); sub(/^_ZN5mamba4cuda[0-9]+/, "", k); sub(/kernel.*/, "kernel", k)
  t = (n ~ /bfloat16/) ? "bf16" : (n ~ /__half/) ? "f16" : "f32"
  a = (n ~ /SimtAcc/) ? "fma" : (n ~ /TcAccTILb1/) ? "3xtf32" : (n ~ /TcAcc/) ? "tf32" : (n ~ /MmaAcc/) ? "mma" : (n ~ /kernelILi4E/) ? "x4" : ""
  sp = ""; next
}
/spill stores/ { s = $0; sub(/ bytes spill stores.*/, "", s); sub(/.*, /, "", s); sp = s; next }
/Used [0-9]+ registers/ {
  if (k == "") next
  r = $0; sub(/.*Used /, "", r); sub(/ registers.*/, "", r)
  m = "0"; if ($0 ~ /bytes smem/) { m = $0; sub(/ bytes smem.*/, "", m); sub(/.*, /, "", m) }
  printf "%-4s %-20s %-5s %-6s regs %3s  spill %3s B  static smem %5s B\n", ver, k, t, a, r, sp, m
  k = ""
}
' "$BLD/ssd_api.cu.log" "$BLD/ssd_step.cu.log" | sort > "$LOG/ptxas_ssd.txt"
echo "=== ptxas (sm_90), current kernels (dynamic shared memory per block, fp32 output tiles of 17408 B plus"
echo "    operand tiles of 17408 B (fp32, tf32) or 9216 B (mma): chunk state 1+2, scan 1+3, C.B 1+2, gradients"
echo "    2+4 tiles); the first kernels' lines are in ptxas_ssd.txt"
grep -v "^v1" "$LOG/ptxas_ssd.txt"
$NV "$BLD"/*.o -o "$BLD/test_ssd_cuda" || exit 1
# Test modes, one full run each: "log name | what | environment".
MODES=(
  "v3         | v3 (default): bf16/f16 on mma m16n8k16, fp32 on FMA       | MAMBA_SSD_KERNELS=v3 MAMBA_SSD_FP32=simt"
  "v3_st_fp32 | v3 fp32 states: bf16/f16 states kept in fp32               | MAMBA_SSD_KERNELS=v3 MAMBA_SSD_FP32=simt MAMBA_SSD_STATES=fp32"
  "v3_sep     | v3 with the chunk state and state passing kernels         | MAMBA_SSD_KERNELS=v3 MAMBA_SSD_FP32=simt MAMBA_SSD_PASS=separate"
  "v3_3xtf32  | v3: fp32 on 3xTF32 tensor cores                           | MAMBA_SSD_KERNELS=v3 MAMBA_SSD_FP32=3xtf32"
  "v2         | v2: bf16/f16 on TF32 wmma, fp32 on FMA                    | MAMBA_SSD_KERNELS=v2 MAMBA_SSD_FP32=simt"
  "v1         | v1 (first kernels, unchanged since 14e5def), fp32 on FMA  | MAMBA_SSD_KERNELS=v1 MAMBA_SSD_FP32=simt"
)
# run LIMIT LOG CMD...: CMD with timeout LIMIT (already capped), output to LOG; skipped when LIMIT is 0.
run() {
  local t=$1 log=$2; shift 2
  if [ "$t" = 0 ]; then echo "SKIPPED (budget of ${BUDGET}s spent)"; rc=1; return; fi
  timeout "$t" "$@" > "$log" 2>&1 || rc=1
}
for m in "${MODES[@]}"; do
  IFS='|' read -r name what envs <<< "$m"
  name=$(echo $name)
  [[ -z "${ONLY_MODES:-}" || " $ONLY_MODES " == *" $name "* ]] || continue
  echo "=== tests, $(echo $what) [$(echo $envs)] (at ${SECONDS}s)"
  run "$(cap 100)" "$LOG/test_ssd_$name.log" env $envs "$BLD/test_ssd_cuda"
  grep -sE "FAIL|SUMMARY" "$LOG/test_ssd_$name.log"
done
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  echo "=== benchmark (at ${SECONDS}s)"
  rm -f "$BLD/bench_ssd_cuda"
  if wait "$LIB_PID"; then
    echo "    (library built at ${SECONDS}s)"
    nvcc -O3 -std=c++17 -arch=sm_90 -I include tests/cuda/bench_ssd_cuda.cu -o "$BLD/bench_ssd_cuda" -L"$BLD/lib" \
      -lmamba_native -Xlinker -rpath -Xlinker "$BLD/lib" || rc=1
  else
    tail -30 "$LOG/build_lib.log"; rc=1
  fi
fi
if [ -x "$BLD/bench_ssd_cuda" ]; then
  run "$(cap 150)" "$LOG/bench_ssd.log" "$BLD/bench_ssd_cuda"
  cat "$LOG/bench_ssd.log"
  # v3 (bf16 states) with its chain kernels (the default) and with the separate chunk state and state passing
  # kernels; v1's and v2's: docs/results/2026-12-07-ssd-cuda.md (same code); the benchmark times them all.
  for st in chain separate; do
    echo "=== ncu: time per kernel, one bf16 forward and backward, v3 kernels, $st state kernels (at ${SECONDS}s)"
    run "$(cap 60)" "$LOG/ncu_ssd_v3_st_$st.txt" env MAMBA_SSD_KERNELS=v3 MAMBA_SSD_PASS=$st ncu --clock-control none \
      --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum -k regex:"chunk_|state_pass|state_chain|param_grads|bc_grads" \
      "$BLD/bench_ssd_cuda" --profile
    grep -sE "_kernel|gpu__time_duration|dram__bytes" "$LOG/ncu_ssd_v3_st_$st.txt" | sed -E 's/ +/ /g' | cut -c1-110
  done
fi
if [ "${SKIP_SAN:-0}" != 1 ]; then
  echo "=== compute-sanitizer memcheck (quick subset, v3) (at ${SECONDS}s)"
  run "$(cap 90)" "$LOG/memcheck.log" env MAMBA_SSD_KERNELS=v3 compute-sanitizer --tool memcheck --leak-check full \
    "$BLD/test_ssd_cuda" --quick
  grep -sE "ERROR SUMMARY|LEAK SUMMARY|SUMMARY|FAIL" "$LOG/memcheck.log"
  echo "=== compute-sanitizer racecheck (quick subset, v3) (at ${SECONDS}s)"
  run "$(cap 120)" "$LOG/racecheck.log" env MAMBA_SSD_KERNELS=v3 compute-sanitizer --tool racecheck \
    --racecheck-report all "$BLD/test_ssd_cuda" --quick
  grep -sE "RACECHECK SUMMARY|SUMMARY|FAIL" "$LOG/racecheck.log"
fi
if [ -x "$BLD/bench_ssd_cuda" ]; then
  # Where v3 waits (for the next step): throughput, occupancy and the main stall reasons per issued instruction
  # of one forward and backward's chunk state, state passing and chunk gradients. Last: it only informs.
  echo "=== ncu: throughput, occupancy, stalls (v3 kernels) (at ${SECONDS}s)"
  m=sm__throughput.avg.pct_of_peak_sustained_elapsed,dram__throughput.avg.pct_of_peak_sustained_elapsed
  m=$m,sm__warps_active.avg.pct_of_peak_sustained_active,smsp__issue_active.avg.pct_of_peak_sustained_active
  for r in long_scoreboard barrier short_scoreboard mio_throttle lg_throttle math_pipe_throttle wait; do
    m=$m,smsp__average_warps_issue_stalled_${r}_per_issue_active.ratio
  done
  t=$(cap 90)
  if [ "$t" = 0 ]; then echo "SKIPPED (budget spent; informational only)"; else
    MAMBA_SSD_KERNELS=v3 timeout "$t" ncu --clock-control none --metrics "$m" \
      -k regex:"chunk_state|state_pass|state_chain|chunk_bwd" -c 5 "$BLD/bench_ssd_cuda" --profile > "$LOG/ncu_ssd_stalls.txt" 2>&1
    grep -sE "_kernel|__" "$LOG/ncu_ssd_stalls.txt" | sed -E 's/ +/ /g; s/smsp__average_warps_issue_stalled_//' | cut -c1-100
  fi
fi
echo "=== done in ${SECONDS}s, rc $rc"
exit $rc
