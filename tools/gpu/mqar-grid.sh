#!/usr/bin/env bash
# MQAR at the Mamba-2 paper's sizes (Dao & Gu 2024, Figure 8: two layers, widths 32–256, lengths 256, 512, 1024;
# Mamba with state 16 against Mamba-2 with state 16, 64 and 256), in ONE device call, with a Markdown table in $OUT.
#   here:   tools/gpu/stage-apps.sh examples/AssociativeRecall
#   device: bash tools/gpu/mqar-grid.sh            (a run call that carries [".gpu"]; settings below as VAR=value)
# Builds the CUDA kernels and unpacks the app (tools/gpu/device-env.sh), trains every cell of the grid as its own
# process, PARALLEL at a time on the one GPU, each for at most the minutes that let the whole grid end within
# BUDGET_S, then merges the cells' RESULTS files into $OUT/mqar.md: one row per run, and per length a table of the
# best accuracy over LRS for each model (rows) and width (columns), as the figure plots it. Logs: $OUT/logs.tar.gz.
# A cell that cannot run appears with the error it printed.
set -uo pipefail
cd "$(dirname "$0")/../.."
LENGTHS=${LENGTHS:-"256 512 1024"}
DIMS=${DIMS:-"32 64 128 256"}
MODELS=${MODELS:-"mamba:16 mamba2:16 mamba2:64 mamba2:256"}   # variant:state size
LRS=${LRS:-"1e-3"}                   # the paper reports the best of a sweep; each rate is another run
VOCAB=${VOCAB:-8192}                 # Zoology's and the paper's vocabulary
KV_DIV=${KV_DIV:-4}                  # key-value pairs = length / KV_DIV (4: as many as fit)
TOKENS_PER_BATCH=${TOKENS_PER_BATCH:-65536}   # Zoology: batch 256 at 256, 128 at 512, 64 at 1024
EPOCHS=${EPOCHS:-64}; TRAIN_EXAMPLES=${TRAIN_EXAMPLES:-100000}   # Zoology's 64 epochs of 100,000: the step cap
EVAL=${EVAL:-3000}                   # Zoology's test set size
PARALLEL=${PARALLEL:-4}              # processes sharing the GPU: each takes 10-14 GB at 65,536 tokens per batch (8 ran
                                     # out of memory on an 80 GB H100, 2026-12-07)
BUDGET_S=${BUDGET_S:-420}            # seconds for all cells together (a device call ends at 600, setup takes ~90)
OVERHEAD_S=${OVERHEAD_S:-35}         # per cell: .NET and CUDA start, evaluation
SEED=${SEED:-0}
MERGE_ONLY=${MERGE_ONLY:-0}          # 1: only merge the cell files already in $CELLS (to check the tables without a GPU)
CELLS=${CELLS:-/tmp/mqar-cells}
[ -n "${OUT:-}" ] || { echo "OUT is not set" >&2; exit 2; }
[ "$MERGE_ONLY" = 1 ] || source tools/gpu/device-env.sh || exit 1

jobs=()
for length in $LENGTHS; do for dim in $DIMS; do for model in $MODELS; do for lr in $LRS; do
  jobs+=("$length $dim ${model%%:*} ${model##*:} $lr")
done; done; done; done
waves=$(( (${#jobs[@]} + PARALLEL - 1) / PARALLEL ))
minutes=$(awk -v b="$BUDGET_S" -v w="$waves" -v o="$OVERHEAD_S" 'BEGIN { m = (b / w - o) / 60; printf "%.2f", (m < 0.25 ? 0.25 : m) }')
echo "${#jobs[@]} cells, $PARALLEL at a time ($waves waves): at most $minutes min of training each"

cells=$CELLS
run_cell() {   # length dim variant state lr
  local length=$1 dim=$2 variant=$3 state=$4 lr=$5 batch=$(( TOKENS_PER_BATCH / $1 ))
  local name="$length-$dim-$variant-$state-$lr"
  "$APP/AssociativeRecall" --preset paper --device cuda --seed "$SEED" --variants "$variant" \
    --train-length "$length" --kv-pairs $(( length / KV_DIV )) --vocab "$VOCAB" --model-dim "$dim" --state-size "$state" \
    --lr "$lr" --batch "$batch" --steps $(( EPOCHS * TRAIN_EXAMPLES / batch )) --time-limit-minutes "$minutes" \
    --eval-every 250 --target-accuracy 99 --eval-sequences "$EVAL" --log-every 1000 \
    --results "$cells/$name.md" > "$cells/$name.log" 2>&1
}
if [ "$MERGE_ONLY" != 1 ]; then
  rm -rf "$cells"; mkdir -p "$cells"
  export -f run_cell; export APP cells minutes VOCAB KV_DIV TOKENS_PER_BATCH EPOCHS TRAIN_EXAMPLES EVAL SEED
  start=$SECONDS
  # The limit keeps the merge below inside the device call even if the cells start more slowly than OVERHEAD_S allows.
  # Its output goes to a file so that cells still running after the limit do not hold the call's output open.
  printf '%s\n' "${jobs[@]}" | timeout $(( BUDGET_S + 60 )) xargs -P "$PARALLEL" -L 1 bash -c 'run_cell $0 $1 $2 $3 $4' \
    > "$cells/grid.txt" 2>&1
  echo "grid done in $(( SECONDS - start )) s"
fi

# One row per run: each cell's table row (the line after its header separator), or its "not run" row.
{
  echo "# MQAR on $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)"
  echo
  echo "Two-layer models, vocabulary $VOCAB, length / $KV_DIV key-value pairs, $TOKENS_PER_BATCH tokens per batch, up to" \
       "$minutes min of training per cell ($PARALLEL cells sharing the GPU; stop at 99% validation accuracy), $EVAL test" \
       "sequences, seed $SEED. Chance: $(awk -v v="$VOCAB" 'BEGIN { printf "%.3g", 200 / v }')%; guessing one of the" \
       "sequence's values: 100 / pairs %. Command and settings of each cell: logs.tar.gz."
  echo
  echo "| Variant | Architecture / layer | Length | KV pairs | Model dim | State size | Parameters | Non-embedding | lr | Accuracy (%) | Final train loss | Steps run | Train time |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  for job in "${jobs[@]}"; do
    set -- $job; name="$1-$2-$3-$4-$5"
    if [ -s "$cells/$name.md" ]; then awk '/^\| --- /{getline; print; exit}' "$cells/$name.md"
    else   # no table: a row that says why (the error it printed, or that the budget ran out)
      why=$(grep -m1 -E '^(error|skipped|Unhandled)' "$cells/$name.log" 2>/dev/null || echo "did not finish within the budget")
      echo "| $3 | not run: ${why//|//} | $1 | $(( $1 / KV_DIV )) | $2 | $4 | | | $5 | n/a | | | |"
    fi
  done
} > "$cells/all.txt"
# Per length: the best accuracy over the learning rates, one row per model (in MODELS order), one column per width.
awk -F' *\\| *' -v lengths="$LENGTHS" -v dims="$DIMS" -v models="$MODELS" '
  /^\| [a-z]/ { cell = $4 SUBSEP $2 ":" $7 SUBSEP $6; v = ($11 == "n/a" ? -1 : $11 + 0)
                 if (!(cell in best) || v > best[cell]) best[cell] = v }
  END { nl = split(lengths, l, " "); nd = split(dims, d, " "); nm = split(models, m, " ")
    for (i = 1; i <= nl; i++) {
      printf "\n### Length %s: best accuracy (%%) over the learning rates\n\n| Model |", l[i]
      for (j = 1; j <= nd; j++) printf " d = %s |", d[j]
      printf "\n| --- |"; for (j = 1; j <= nd; j++) printf " --- |"; printf "\n"
      for (k = 1; k <= nm; k++) {
        split(m[k], vs, ":"); printf "| %s (N = %s) |", vs[1], vs[2]
        for (j = 1; j <= nd; j++) { cell = l[i] SUBSEP m[k] SUBSEP d[j]
          printf " %s |", (cell in best ? (best[cell] < 0 ? "n/a" : best[cell]) : "") }
        printf "\n" } } }' "$cells/all.txt" > "$cells/pivot.txt"
cat "$cells/all.txt" "$cells/pivot.txt" > "$OUT/mqar.md"
tar -czf "$OUT/logs.tar.gz" -C "$cells" $(cd "$cells" && ls *.log *.md 2>/dev/null | grep -v '^all')
cat "$OUT/mqar.md"
