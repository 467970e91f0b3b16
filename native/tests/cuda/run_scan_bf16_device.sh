#!/bin/bash
# The bf16/f16 scan forward's 16-byte vector tiles (issue #20) in one short device call (sm_90, about 3-4 minutes):
# builds the library, runs the scan and decode-step tests, compute-sanitizer memcheck on the scan tests' quick
# subset, then times the forward with element loads (MAMBA_SCAN_FWD_VEC=0: the kernels before the change) and
# with vector tiles, alternating, twice each, and compares their outputs bit for bit (hash column).
# Run from anywhere; logs go to $OUT when set (the device tool), else ./build-bf16/logs.
set -u -o pipefail
cd "$(dirname "$0")/../.."
LOG=${OUT:-build-bf16/logs}
BLD=${BLD:-/tmp/scan-bf16-build}
mkdir -p "$LOG" "$BLD"
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
nvcc --version | tail -1
t0=$SECONDS
(cmake -S . -B "$BLD/lib" -DMAMBA_CUDA=ON -DMAMBA_CUDA_ARCHITECTURES=90 > "$LOG/build_lib.log" 2>&1 &&
  cmake --build "$BLD/lib" -j "${JOBS:-16}" >> "$LOG/build_lib.log" 2>&1) &
LIB_PID=$!
# ptxas report of the forward kernels alone (registers, spills, shared memory), one log per file so that parallel
# jobs do not interleave; and the test programs' objects, while the library builds.
NVK="nvcc -O3 -std=c++17 -arch=sm_90 -I include -I src -DMAMBA_NATIVE_BUILD -Xptxas=-v -cubin"
for t in f32 bf16 f16; do $NVK src/cuda/scan_fwd_$t.cu -o "$BLD/scan_fwd_$t.cubin" > "$BLD/ptxas_$t.log" 2>&1 & done
EXTRA=""
[ "$(nvcc --version | grep -oE 'release [0-9]+' | grep -oE '[0-9]+')" -lt 12 ] && EXTRA="-U__SIZEOF_INT128__"
NV="nvcc -O3 -std=c++17 -arch=sm_90 -I include $EXTRA"
pids=()
for p in test_scan_cuda test_decode_step_cuda bench_scan_cuda; do
  $NV -c tests/cuda/$p.cu -o "$BLD/$p.o" > "$BLD/$p.log" 2>&1 &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
[ $rc = 0 ] || { cat "$BLD"/test_*.log "$BLD"/bench_*.log | grep -E "error" -A3 | head -40; exit 1; }
wait "$LIB_PID" || { tail -60 "$LOG/build_lib.log"; exit 1; }
wait
echo "=== built in $((SECONDS - t0)) s"
LIBS="-L$BLD/lib -lmamba_native -Xlinker -rpath -Xlinker $BLD/lib"
for p in test_scan_cuda test_decode_step_cuda bench_scan_cuda; do nvcc -arch=sm_90 "$BLD/$p.o" -o "$BLD/$p" $LIBS || exit 1; done

echo "=== ptxas, forward kernels (Lb1 = vector tiles; ScanCfgILi4ELi4E = N 16): registers, spill stores, smem"
for t in f32 bf16 f16; do
  awk -v f="$t" '/Compiling entry function .*scan_fwd_kernel/ { n = $0; sub(/.*scan_fwd_kernelI/, "", n); sub(/NS0_10ScanParamsE.*/, "", n); next }
       n != "" && /spill stores/ { sp = $5 }
       n != "" && /Used [0-9]+ registers/ { match($0, /Used [0-9]+ registers, [0-9]+ bytes smem/); print f, n, substr($0, RSTART + 5, RLENGTH - 5), sp " B spilled"; n = "" }' \
    "$BLD/ptxas_$t.log"
done > "$LOG/ptxas_fwd.txt"
grep -E "ScanCfgILi4ELi4E" "$LOG/ptxas_fwd.txt"
grep -hiE "error" "$BLD"/ptxas_*.log | head

echo "=== tests"
timeout 150 "$BLD/test_scan_cuda" > "$LOG/test_scan.log" 2>&1 || rc=1
grep -E "FAIL|SUMMARY" "$LOG/test_scan.log" || tail -5 "$LOG/test_scan.log"
timeout 60 "$BLD/test_decode_step_cuda" > "$LOG/test_decode_step.log" 2>&1 || rc=1
grep -E "FAIL|SUMMARY" "$LOG/test_decode_step.log" || tail -5 "$LOG/test_decode_step.log"
echo "=== compute-sanitizer memcheck (scan, quick subset)"
timeout 100 compute-sanitizer --tool memcheck --leak-check full "$BLD/test_scan_cuda" --quick > "$LOG/memcheck.log" 2>&1 || rc=1
grep -E "ERROR SUMMARY|LEAK SUMMARY|SUMMARY|FAIL" "$LOG/memcheck.log" || tail -5 "$LOG/memcheck.log"

echo "=== forward: element loads (old) vs vector tiles (new; L=1000 has no vectors: same kernel), two alternating runs each"
for i in 1 2; do
  MAMBA_SCAN_FWD_VEC=0 timeout 60 "$BLD/bench_scan_cuda" --fwd > "$LOG/bench_old_$i.log" 2>&1 || rc=1
  timeout 60 "$BLD/bench_scan_cuda" --fwd > "$LOG/bench_new_$i.log" 2>&1 || rc=1
done
head -2 "$LOG/bench_new_1.log"
# Per (shape, dtype): old and new ms of each pair of runs, speed-up of the means, fwd+ckpt ms (means), and whether
# the outputs' hashes agree across all four runs.
awk 'FNR == 1 { file++ } /^\([0-9]/ { k = $1 " " $2; if (!(k in idx)) { idx[k] = ++nk; name[nk] = k }
       if (file % 2) { o[k] = o[k] " " $3; os[k] += $3; oc[k] += $5 } else { w[k] = w[k] " " $3; ns[k] += $3; nc[k] += $5 }
       if (!(k in h)) h[k] = $6; else if (h[k] != $6) bad[k] = 1 }
     END { printf "%-22s %-5s %-16s %-16s %8s %10s %10s %s\n", "(B,D,L,N)", "dtype", "old ms", "new ms", "speed-up", "old ckpt", "new ckpt", "outputs"
           for (i = 1; i <= nk; i++) { k = name[i]; split(k, a, " ")
             printf "%-22s %-5s %-16s %-16s %7.2fx %10.3f %10.3f %s\n", a[1], a[2], o[k], w[k], os[k] / ns[k], oc[k] / 2, nc[k] / 2,
                    (k in bad) ? "DIFFER" : "bit-identical" } }' \
  "$LOG/bench_old_1.log" "$LOG/bench_new_1.log" "$LOG/bench_old_2.log" "$LOG/bench_new_2.log" | tee "$LOG/bench_summary.txt"
echo "=== done in $((SECONDS - t0)) s, rc=$rc"
exit $rc
