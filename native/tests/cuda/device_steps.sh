# Steps the one-call device scripts that use the staged apps share (run_*_device.sh). Source it from the repository
# root after setting OUT and BUDGET (seconds for the whole call); the steps set rc=1 on a failure and go on, each
# bounded by what is left of BUDGET.
# shellcheck shell=bash

# Seconds left of BUDGET (at least 5), and the smaller of that and $1.
left() { local l=$((BUDGET - SECONDS)); echo $((l > 5 ? l : 5)); }
cap() { local want=$1 l; l=$(left); echo $((want < l ? want : l)); }

# The GPU's name into $OUT/gpu.txt; stops the call (exit 2) when the staged apps were not carried.
device_begin() {
  mkdir -p "$OUT"
  rc=0
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
  [ -f .gpu/apps.tar.xz ] || { echo "no .gpu/apps.tar.xz: stage the apps first (see the header) and carry .gpu"; exit 2; }
}

# The library (/tmp/nb, the build tools/gpu/device-env.sh then finds) in the background; its pid in NEWLIB.
start_native_build() {
  (cmake -S native -B /tmp/nb -DMAMBA_CUDA=ON -DMAMBA_CUDA_ARCHITECTURES=90 &&
    cmake --build /tmp/nb -j12 --target mamba_native) > "$OUT/native-build0.log" 2>&1 &
  NEWLIB=$!
}

# test_ssd_cuda into $1/test_ssd_cuda, linked straight from the SSD sources (it need not wait for the library).
build_ssd_tests() {
  local tb=$1 f p pids=()
  local nv="nvcc -O3 -std=c++17 -arch=sm_90 -I native/include -I native/src -DMAMBA_NATIVE_BUILD"
  for f in native/src/cuda/ssd_api.cu native/src/cuda/ssd_step.cu native/src/common/errors.cpp \
           native/src/common/abi_validate.cpp native/src/common/ssd_validate.cpp native/tests/cuda/test_ssd_cuda.cu; do
    $nv -c "$f" -o "$tb/$(basename "$f").o" > "$tb/$(basename "$f").log" 2>&1 & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  cat "$tb"/*.log > "$OUT/ssd-build.log"; grep -E "error" -A3 "$OUT/ssd-build.log" | head -20
  $nv "$tb"/*.o -o "$tb/test_ssd_cuda" || rc=1
}

# Waits for start_native_build, sources tools/gpu/device-env.sh (APP, the staged apps) and builds bench_ssd_cuda into
# $1 against the library; stops the call when the library did not build.
finish_native_build() {
  wait "$NEWLIB" || tail -5 "$OUT/native-build0.log"
  source tools/gpu/device-env.sh || { echo "lib build failed"; tail -20 "$OUT/native-build.log"; exit 1; }
  echo "lib built at ${SECONDS}s"
  nvcc -O3 -std=c++17 -arch=sm_90 -I native/include native/tests/cuda/bench_ssd_cuda.cu -o "$1/bench_ssd_cuda" -L/tmp/nb \
    -lmamba_native -Xlinker -rpath -Xlinker /tmp/nb > "$OUT/bench-ssd-build.log" 2>&1 || rc=1
}

# Mamba.Benchmarks train, bf16, 130M, batch 8 x 1024, 20 timed steps, for mamba2 and mamba1 alternating, $1 rounds; prints
# each run's row.
train_both() {
  local i a
  for ((i = 0; i < $1; i++)); do for a in mamba2 mamba1; do
    timeout "$(cap 45)" "$APP/Mamba.Benchmarks" train --device cuda --architecture $a --dtype bf16 --batch 8 \
      --length 1024 --steps 20 --no-memory > "$OUT/train.log" 2>&1 || rc=1
    echo "--- $a"; grep -E "^\| [0-9]|rror" "$OUT/train.log" | cut -c1-160
  done; done
}

# ncu's time per kernel over one bf16 Mamba-2 training step (130M, batch 8 x 1024) when more than 40 s are left: names
# as ncu's --print-kernel-base $1 (function or demangled) cut to $3 characters, the top $2 printed (kernel_sums.py).
ncu_mamba2_step() {
  [ $((BUDGET - SECONDS)) -gt 40 ] || return 0
  timeout "$(cap 90)" ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv --page raw \
    --print-kernel-base "$1" "$APP/Mamba.Benchmarks" train --device cuda --architecture mamba2 --dtype bf16 \
    --batch 8 --length 1024 --steps 1 --warmup-steps 0 --no-memory > "$OUT/ncu_train.csv" 2> "$OUT/ncu_train.err" || rc=1
  python3 native/tests/cuda/kernel_sums.py "$OUT/ncu_train.csv" "$2" "$3"
}

# bench_decoder_cuda into $1, against the library tools/gpu/device-env.sh built in /tmp/nb.
build_bench_decoder() {
  nvcc -O3 -std=c++17 -arch=sm_90 -I native/include native/tests/cuda/bench_decoder_cuda.cu -o "$1" \
    -L/tmp/nb -lmamba_native -Xlinker -rpath -Xlinker /tmp/nb > "$OUT/bench-build.log" 2>&1 || { rc=1; tail "$OUT/bench-build.log"; }
}

# The staged C# tests with the given filter options, into $OUT/$1 within $2 seconds; prints the failures and counts.
csharp_tests() {
  local log=$OUT/$1 want=$2
  shift 2
  timeout "$(cap "$want")" "$APP/Microsoft.ML.Mamba.Tests" "$@" --no-ansi > "$log" 2>&1 || rc=1
  grep -E "^failed " -A8 "$log" | head -60
  grep -E "total:|failed:|succeeded:|skipped:" "$log"
}

# bench_decoder_cuda $1 (Mamba-1 130M shape, random weights) at batches $2, programmatic dependent launch on and off
# alternating, $4 rounds of $3 seconds at most each run; per setting, its rows.
bench_decoder_pdl() {
  local bin=$1 batches=$2 want=$3 rounds=$4 i pdl
  : > "$OUT/bench_decoder_pdl1.log"; : > "$OUT/bench_decoder_pdl0.log"
  for ((i = 0; i < rounds; i++)); do
    for pdl in 1 0; do
      MAMBA_DECODER_PDL=$pdl timeout "$(cap "$want")" "$bin" 24 768 50280 "$batches" >> "$OUT/bench_decoder_pdl$pdl.log" 2>&1 || rc=1
    done
  done
  for pdl in 1 0; do echo "--- PDL $pdl"; grep -E "^GPU|batch" "$OUT/bench_decoder_pdl$pdl.log" | cut -c1-190; done
}

# DecodeBenchmark for architecture $1 at batches $2 within $3 seconds (prompt 1024, 128 greedy tokens, fp32 and bf16,
# native decoder and TorchSharp step, best of $4 repeats, default 2), into $OUT/bench_$1.log; prints its speeds and
# whether the paths' greedy tokens agree (and where differing rows part).
decode_benchmark() {
  timeout "$(cap "$3")" "$APP/DecodeBenchmark" --device cuda --architecture "$1" --dtype fp32,bf16 --batches "$2" \
    --paths native,torch --repeats "${4:-2}" > "$OUT/bench_$1.log" 2>&1 || rc=1
  echo "--- $1"; grep -E "^Model:|tokens/s|identical" "$OUT/bench_$1.log" | cut -c1-200
}

# compute-sanitizer memcheck on one teacher-forced Mamba-2 decoder test within $1 seconds.
memcheck_decoder_test() {
  timeout "$(cap "$1")" compute-sanitizer --tool memcheck --print-limit 20 "$APP/Microsoft.ML.Mamba.Tests" \
    --filter-method "*CudaMamba2DecoderTests.LogitsAndStatesStayCloseToTheTorchSharpStepTeacherForced" \
    > "$OUT/memcheck.log" 2>&1 || rc=1
  grep -E "ERROR SUMMARY|total:|failed:|succeeded:" "$OUT/memcheck.log"
}

# bench_decoder_cuda $1 for architecture $2 (mamba1 or mamba2, 130M shape, random weights) at batches $3 within $4
# seconds, into $OUT/bench_decoder_$2.log; prints its rows.
bench_decoder_arch() {
  timeout "$(cap "$4")" "$1" --arch "$2" 24 768 50280 "$3" > "$OUT/bench_decoder_$2.log" 2>&1 || rc=1
  echo "--- $2"; grep -E "^model|batch|failed" "$OUT/bench_decoder_$2.log" | cut -c1-190
}

# One token's per-kernel timeline (ncu; kernels serialised, no launch gaps) of bench_decoder_cuda $1, architecture $2,
# at batches $3 within $4 seconds: $OUT/ncu_decoder_$2.csv, summarised by decoder_timeline.py into
# $OUT/decoder_timeline_$2.txt, whose first $5 lines are printed.
decoder_timeline() {
  local bin=$1 arch=$2 batches=$3 labels=() dt b
  for dt in fp32 bf16; do for b in ${batches//,/ }; do labels+=("$dt-b$b"); done; done
  MAMBA_BENCH_PROFILE=1 timeout "$(cap "$4")" ncu --profile-from-start off --clock-control none --cache-control none \
    --print-kernel-base function --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv --page raw \
    "$bin" --arch "$arch" 24 768 50280 "$batches" > "$OUT/ncu_decoder_$arch.csv" 2> "$OUT/ncu_decoder_$arch.err" || rc=1
  python3 native/tests/cuda/decoder_timeline.py "$OUT/ncu_decoder_$arch.csv" "${labels[@]}" \
    > "$OUT/decoder_timeline_$arch.txt" 2>&1 || rc=1
  echo "--- $arch"; cut -c1-150 "$OUT/decoder_timeline_$arch.txt" | head -"$5"
}
