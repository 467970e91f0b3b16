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

# bg_run NAME COMMAND ARGS...: runs the command in its own session, output in $BG_DIR/NAME.log.
bg_run() {
  local name=$1; shift
  (cd "$BG_DIR" && setsid nohup "$@" > "$BG_DIR/$name.log" 2>&1 < /dev/null & echo $! > "$BG_DIR/$name.pid")
}

# bg_running: prints how many jobs started by bg_run are still alive.
bg_running() {
  local n=0 f
  for f in "$BG_DIR"/*.pid; do [ -e "$f" ] && kill -0 "$(cat "$f")" 2> /dev/null && n=$((n + 1)); done
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
  for f in "$BG_DIR"/*.log; do [ -e "$f" ] && { echo "== $(basename "$f")"; tail -n 4 "$f" | cut -c1-200; }; done
}
