# On the GPU machine, sourced (after tools/gpu/device-env.sh) in a device call that carries [".gpu"]:
#   source tools/gpu/background-runs.sh
#   bg_run sc  "$APP/SelectiveCopying" --preset paper --device cuda ...   # starts a job that outlives this call
#   bg_wait 540                                                            # until all jobs end or 540 s have passed
#   bg_collect                                                             # logs, RESULTS files, checkpoints → $OUT
# A device call ends after 10 minutes, but a job started in its own session (setsid) keeps running while the
# machine stays warm, which it does when the next call comes within its idle time. So a long training run can span
# several calls: the first starts it, the later ones only wait and collect. The jobs write under $BG_DIR, and each
# writes its checkpoints to $BG_DIR/ck-NAME when given --checkpoint-dir "$BG_DIR/ck-NAME" (bg_collect brings back
# every ck-* folder).
# If the machine went back between calls the jobs are gone; the last bg_collect brought their checkpoints home.
BG_DIR=${BG_DIR:-/tmp/bg}
mkdir -p "$BG_DIR"

# bg_run NAME COMMAND ARGS...: runs the command in its own session, output in $BG_DIR/NAME.log; when it ends, its exit
# status goes to $BG_DIR/NAME.rc. Jobs are tracked by these files, not by process ids: a later device call did not
# see the processes an earlier call had started (measured 2026-12-01: bg_running said 0 while the jobs still wrote
# their logs).
# Only a simple command goes into the background here: its forked child applies the redirections and becomes setsid,
# so nothing keeps this call's output open. (`cd DIR && setsid … &` did: the list's subshell waited for the job with
# the call's stdout, so the call that started the jobs ran into its 10-minute limit.)
bg_run() {
  local name=$1; shift
  rm -f "$BG_DIR/$name.rc"
  : > "$BG_DIR/$name.job"
  ( cd "$BG_DIR" || exit 1
    setsid nohup bash -c '"$@"; echo $? > "$0"' "$BG_DIR/$name.rc" "$@" > "$BG_DIR/$name.log" 2>&1 < /dev/null & )
}

# bg_running: prints how many jobs started by bg_run have not written their exit status yet. A job killed together
# with its wrapper never writes one; bg_wait's limit still ends the wait.
bg_running() {
  local n=0 f
  for f in "$BG_DIR"/*.job; do [ -e "$f" ] && [ ! -e "${f%.job}.rc" ] && n=$((n + 1)); done
  echo "$n"
}

# bg_wait SECONDS: returns when no job is left or after SECONDS.
bg_wait() {
  local until=$((SECONDS + $1))
  while [ "$SECONDS" -lt "$until" ] && [ "$(bg_running)" -gt 0 ]; do sleep 5; done
}

# bg_collect: at most four files come back (the device returns eight): every log in full, one after the other
# (logs.txt), the RESULTS files the jobs wrote (results.md), the checkpoints (checkpoints.tar) and the GPU's state.
bg_collect() {
  [ -n "${OUT:-}" ] || { echo "bg_collect: \$OUT is not set" >&2; return 1; }
  for f in "$BG_DIR"/*.log; do [ -e "$f" ] && { echo "===== $(basename "$f")"; cat "$f"; }; done > "$OUT/logs.txt"
  for f in "$BG_DIR"/*.md; do [ -e "$f" ] && { echo "===== $(basename "$f")"; cat "$f"; echo; }; done > "$OUT/results.md"
  (cd "$BG_DIR" && ls -d ck-* > /dev/null 2>&1 && tar -cf "$OUT/checkpoints.tar" ck-*)
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv > "$OUT/gpu.txt" 2>&1
  echo "jobs still running: $(bg_running)"
  for f in "$BG_DIR"/*.log; do
    [ -e "$f" ] || continue
    echo "== $(basename "$f") (exit status: $(cat "${f%.log}.rc" 2> /dev/null || echo none yet))"
    tail -n 4 "$f" | cut -c1-200
  done
}
