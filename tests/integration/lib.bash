# lib.bash — the one helper library of the integration scripts (sourced by tests/integration/*.sh;
# not a test itself: the runner only picks up *.sh): real farmd / farm-worker processes, and the
# parity helpers that compare safetensors outputs with the reference goldens (at the end).
# Every process runs under a private FARM_HOME in a temporary folder $T; farmd listens on an ipc://
# endpoint there unless the script calls use_tcp_endpoint (a random free loopback port). Everything
# started is stopped on exit (CONT, TERM, then KILL) and its logs are printed when a test fails;
# KEEP=1 keeps $T. Binaries come from ${FARM_BIN:-bin} relative to the repository root.
#
# Variables: ROOT (repository root), BIN, T, FARM_HOME and FARM_COORDINATOR (exported), DB (farm.db),
#   FARMD_PID (the farmd now running), WPID[NAME] (each worker's pid), FARMD_ARGS / WORKER_ARGS
#   (options every start_farmd / start_worker passes before its own).
# Logs: farmd run N (counting from 1) in $T/farmd.N.log, worker NAME in $T/worker-NAME.log (appended).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${FARM_BIN:-bin}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
T=$(mktemp -d /tmp/farmtest.XXXXXX)
export FARM_HOME=$T/home
export FARM_COORDINATOR=ipc://$T/farmd.sock
export NO_COLOR=1
DB=$FARM_HOME/farm.db
FARMD_PID=
FARMD_RUNS=0
FARMD_ARGS=()
WORKER_ARGS=()
PIDS=()
declare -A WPID=()

note() { echo "[$(date +%H:%M:%S)] $*"; }
fail() { echo "FAIL: $*"; exit 1; }

dump_logs() {
  local f
  for f in "$T"/farmd.*.log "$T"/worker-*.log; do [ -f "$f" ] && { echo "---- $(basename "$f") (last 40 lines)"; tail -n 40 "$f"; }; done
}

lib_cleanup() {
  local rc=$? p
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
  [ ${#PIDS[@]} -gt 0 ] && sleep 0.3
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ $rc -ne 0 ] && [ $rc -ne 77 ] && dump_logs
  [ -n "${KEEP:-}" ] || rm -rf "$T"
  exit $rc
}
trap lib_cleanup EXIT

# need_bins NAME...: skip (exit 77) unless every binary is built.
need_bins() {
  local b
  for b in "$@"; do [ -x "$BIN/$b" ] || { echo "skip: $BIN/$b is not built"; exit 77; }; done
}

# need_cmds NAME...: skip (exit 77) unless every command is installed.
need_cmds() {
  local c
  for c in "$@"; do command -v "$c" >/dev/null || { echo "skip: $c not installed"; exit 77; }; done
}

free_port() {   # below the kernel's ephemeral range (32768+), where client sockets never land
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return 0; }
  done
  return 1
}

# use_tcp_endpoint: farmd on tcp://127.0.0.1:<a free port> instead of the ipc:// endpoint.
use_tcp_endpoint() {
  local port
  port=$(free_port) || { echo "no free port"; exit 1; }
  export FARM_COORDINATOR=tcp://127.0.0.1:$port
}

# quick_timing: short heartbeats (HB_MS, default 200 ms), liveness and backoffs for every farmd and
# worker started afterwards, so that failures are noticed within a second.
quick_timing() {
  local hb=${HB_MS:-200}
  FARMD_ARGS=(--heartbeat-ms "$hb" --liveness 3 --backoff-ms 100 --backoff-max-ms 400)
  WORKER_ARGS=(--heartbeat-ms "$hb" --reconnect-max-ms 500)
}

farm() { "$BIN/farm" "$@"; }

sql() { sqlite3 -cmd ".timeout 5000" "$DB" "$1"; }

# sql_is QUERY OP VALUE: the query's answer compares with `[ ANSWER OP VALUE ]` (for wait_for).
sql_is() { [ "$(sql "$1")" "$2" "$3" ] 2>/dev/null; }

# start_farmd [farmd options...]: starts farmd and waits until it answers queries.
start_farmd() {
  FARMD_RUNS=$((FARMD_RUNS + 1))
  "$BIN/farmd" --bind "$FARM_COORDINATOR" --home "$FARM_HOME" "${FARMD_ARGS[@]}" "$@" \
      >"$T/farmd.$FARMD_RUNS.log" 2>&1 &
  FARMD_PID=$!
  PIDS+=("$FARMD_PID")
  for _ in $(seq 1 100); do
    farm --timeout-ms 200 ls >/dev/null 2>&1 && return 0
    if ! kill -0 "$FARMD_PID" 2>/dev/null; then
      # another test on this machine took the port between free_port and the bind: a first start on
      # tcp picks a new one (nothing has connected yet); any other exit is the test's failure
      if [ "$FARMD_RUNS" = 1 ] && [ "${FARM_COORDINATOR#tcp://}" != "$FARM_COORDINATOR" ] &&
         grep -q 'Address already in use' "$T/farmd.1.log" && [ "${PORT_RETRIES:-0}" -lt 5 ]; then
        PORT_RETRIES=$(( ${PORT_RETRIES:-0} + 1 )); FARMD_RUNS=0
        use_tcp_endpoint
        start_farmd "$@"
        return
      fi
      fail "farmd exited at start"
    fi
    sleep 0.1
  done
  fail "farmd did not answer within 10 s"
}

kill_farmd() {   # kill_farmd SIGNAL
  kill -"${1:-TERM}" "$FARMD_PID" 2>/dev/null; wait "$FARMD_PID" 2>/dev/null; FARMD_PID=
}

# start_worker NAME [worker options...]: in the background; its pid in WPID[NAME].
start_worker() {
  local name=$1; shift
  "$BIN/farm-worker" --name "$name" "${WORKER_ARGS[@]}" "$@" >>"$T/worker-$name.log" 2>&1 &
  WPID[$name]=$!
  PIDS+=("$!")
}

worker_pid() { echo "${WPID[$1]}"; }

# wait_for SECONDS CMD...: runs CMD (output discarded) every 0.1 s until it succeeds or SECONDS pass.
wait_for() {
  local end=$(( $(date +%s%N) / 1000000 + $1 * 1000 )); shift
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    [ $(( $(date +%s%N) / 1000000 )) -lt $end ] || return 1
    sleep 0.1
  done
}

# submit_id FILE [submit options...]: submits a shot list and prints the new job's id.
submit_id() {
  farm --json submit "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_id"])'
}

# job_field JOB PYTHON-EXPR: evaluates an expression over `farm --json show JOB` (as j).
job_field() {
  farm --json show "$1" | python3 -c "import json,sys; j=json.load(sys.stdin)['job']; print($2)"
}

# check_decode FILE FRAMES: the output decodes with exactly FRAMES frames.
check_decode() {
  local n
  n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1" | tr -d ' ,\n')
  [ "$n" = "$2" ] || fail "$1 decodes to '$n' frames, want $2"
  echo "ok: $(basename "$1") decodes to $n frames"
}

# tiny_models: FARM_MODELS=$T/models (exported) holding the tiny golden pipeline
# (tests/golden/pipeline) as model "tiny-rgba" and its LoRA as tiny-lora.safetensors.
tiny_models() {
  export FARM_MODELS=$T/models
  mkdir -p "$FARM_MODELS"
  ln -s "$ROOT/tests/golden/pipeline/model" "$FARM_MODELS/tiny-rgba"
  cp "$ROOT/tests/golden/pipeline/lora.safetensors" "$FARM_MODELS/tiny-lora.safetensors"
}

# ---- parity helpers: farm-worker subcommands against reference goldens ----

# json_str FILE KEY / json_num FILE KEY: the first "KEY": "text" / "KEY": number of a JSON file.
json_str() { sed -n "s/.*\"$2\": *\"\\([^\"]*\\)\".*/\\1/p" "$1" | head -n1; }
json_num() { sed -n "s/.*\"$2\": *\\([-0-9.eE+]*\\).*/\\1/p" "$1" | head -n1; }

# manifest_ok DIR: every file DIR/SHA256SUMS lists is intact.
manifest_ok() { (cd "$1" && sha256sum --quiet -c SHA256SUMS); }

# st_header FILE: the JSON header of a safetensors file.
st_header() { local n; n=$(od -An -v -t u8 -N 8 "$1" | tr -d ' '); head -c $((8 + n)) "$1" | tail -c "$n"; }

# st_dump FILE TENSOR [ODTYPE]: the values of one tensor, one per line (ODTYPE as od -t takes it,
# default f4: float32).
st_dump() {
  local f=$1 name=$2 ty=${3:-f4} n off
  n=$(od -An -v -t u8 -N 8 "$f" | tr -d ' ')
  off=$(st_header "$f" | grep -o "\"$name\":{[^}]*}" | sed -n 's/.*"data_offsets":\[\([0-9]*\),\([0-9]*\)\].*/\1 \2/p')
  [ -n "$off" ] || { echo "no tensor $name in $f" >&2; return 1; }
  set -- $off
  tail -c +$((8 + n + $1 + 1)) "$f" | head -c $(($2 - $1)) | od -An -v -t "$ty" | tr -s ' ' '\n' | sed '/^$/d'
}

# close_to LABEL A B REL: the value lists A and B (files) are equally long and
# max |a - b| <= REL * max |b| (REL 0: exact); prints one ok/FAIL line, returns 1 on FAIL.
close_to() {
  local label=$1 a=$2 b=$3 rel=$4
  if [ "$(wc -l < "$a")" != "$(wc -l < "$b")" ]; then
    echo "FAIL $label: $(wc -l < "$a") values, want $(wc -l < "$b")"; return 1
  fi
  paste "$a" "$b" | awk -v rel="$rel" -v label="$label" '
      { d = $1 - $2; if (d < 0) d = -d; if (d > e || d != d) e = d; m = $2 < 0 ? -$2 : $2; if (m > mx) mx = m; n++ }
      END { ok = n > 0 && e <= rel * mx; printf "%s %s: %d values, max err %.3g (limit %.3g)\n", ok ? "ok  " : "FAIL", label, n, e, rel * mx; exit !ok }'
}

# st_close LABEL GOT GOT_TENSOR WANT WANT_TENSOR REL [ODTYPE]: close_to over two tensors.
st_close() {
  st_dump "$2" "$3" "${7:-f4}" > "$T/st_a" && st_dump "$4" "$5" "${7:-f4}" > "$T/st_b" \
    || { echo "FAIL $1: unreadable"; return 1; }
  close_to "$1" "$T/st_a" "$T/st_b" "$6"
}

# expect_fail LABEL NEEDLE CMD...: CMD exits non-zero and says NEEDLE (stdout or stderr); prints
# one ok/FAIL line, returns 1 on FAIL.
expect_fail() {
  local label=$1 needle=$2; shift 2
  if "$@" > "$T/expect_fail.out" 2>&1; then echo "FAIL $label: succeeded"; return 1; fi
  grep -qF -- "$needle" "$T/expect_fail.out" && { echo "ok   $label: $(tail -n1 "$T/expect_fail.out")"; return 0; }
  echo "FAIL $label: message lacks '$needle':"; head -c 2000 "$T/expect_fail.out"; return 1
}
