# testlib.sh — helpers for the integration scripts that start real farmd / farm-worker processes
# (sourced by tests/integration/{submit,worker,cli}_*.sh; not a test itself).
# Every process runs under a private FARM_HOME in a temporary folder and talks over an ipc://
# endpoint there, so parallel test runs never collide on a port. Everything started is stopped
# on exit (TERM, then KILL), and logs are printed when a test fails.
# Binaries come from ${FARM_BIN:-bin} relative to the repository root.

FARM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$(cd "$FARM_ROOT" && cd "${FARM_BIN:-bin}" 2>/dev/null && pwd)
T=$(mktemp -d /tmp/farmtest.XXXXXX)
export FARM_HOME=$T/home
export FARM_COORDINATOR=ipc://$T/farmd.sock
export NO_COLOR=1
FARMD_PID=
declare -A WORKER_PIDS=()

t_log() { echo "[$(date +%H:%M:%S)] $*"; }

t_dump_logs() {
  for f in "$T"/*.log; do [ -f "$f" ] && { echo "---- $(basename "$f") (last 40 lines)"; tail -n 40 "$f"; }; done
}

t_cleanup() {
  local rc=$?
  for p in "${WORKER_PIDS[@]}" $FARMD_PID; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
  sleep 0.3
  for p in "${WORKER_PIDS[@]}" $FARMD_PID; do kill -KILL "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ $rc -ne 0 ] && [ $rc -ne 77 ] && t_dump_logs
  [ -n "${KEEP:-}" ] || rm -rf "$T"
  exit $rc
}
trap t_cleanup EXIT

t_fail() { echo "FAIL: $*"; exit 1; }

t_need_bins() {
  for b in "$@"; do [ -x "$BIN/$b" ] || { echo "skip: $BIN/$b is not built"; exit 77; }; done
}

farm() { "$BIN/farm" "$@"; }

# start_farmd [farmd options...]: starts farmd and waits until it answers queries.
start_farmd() {
  "$BIN/farmd" --bind "$FARM_COORDINATOR" --home "$FARM_HOME" "$@" >>"$T/farmd.log" 2>&1 &
  FARMD_PID=$!
  for _ in $(seq 1 100); do
    farm --timeout-ms 200 ls >/dev/null 2>&1 && return 0
    kill -0 "$FARMD_PID" 2>/dev/null || t_fail "farmd exited at start"
    sleep 0.1
  done
  t_fail "farmd did not answer within 10 s"
}

kill_farmd() {   # kill_farmd SIGNAL
  kill -"${1:-TERM}" "$FARMD_PID" 2>/dev/null; wait "$FARMD_PID" 2>/dev/null; FARMD_PID=
}

# start_worker NAME [worker options...]
start_worker() {
  local name=$1; shift
  "$BIN/farm-worker" --name "$name" "$@" >>"$T/worker-$name.log" 2>&1 &
  WORKER_PIDS[$name]=$!
}

worker_pid() { echo "${WORKER_PIDS[$1]}"; }

# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds.
wait_for() {
  local s=$1; shift
  for _ in $(seq 1 $((s * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 1
}

# job_field JOB PYTHON-EXPR: evaluates an expression over `farm --json show JOB` (as j).
job_field() {
  farm --json show "$1" | python3 -c "import json,sys; j=json.load(sys.stdin)['job']; print($2)"
}
