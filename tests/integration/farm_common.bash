# farm_common.bash — helpers sourced by tests/integration/farm_*.sh (not a test itself: the runner
# only picks up *.sh). Starts real farmd / farm-worker processes on a random free loopback port
# with a temporary FARM_HOME, and always kills what it started (trap on EXIT).
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${FARM_BIN:-bin}
case $BIN in /*) ;; *) BIN=$ROOT/$BIN ;; esac
for b in farmd farm-worker farm; do
  [ -x "$BIN/$b" ] || { echo "skip: $BIN/$b not built"; exit 77; }
done
T=$(mktemp -d /tmp/farmtest.XXXXXX)
PIDS=()
FARMD_PID=
cleanup() {
  local rc=$?
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  if [ $rc -ne 0 ] && [ $rc -ne 77 ]; then
    echo "---- farmd log (tail) ----"; tail -n 40 "$T"/farmd*.log 2>/dev/null
    for f in "$T"/w*.log; do [ -f "$f" ] && { echo "---- $f (tail) ----"; tail -n 15 "$f"; }; done
  fi
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT

free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return 0; }
  done
  return 1
}
PORT=$(free_port) || { echo "no free port"; exit 1; }
EP=tcp://127.0.0.1:$PORT
export FARM_COORDINATOR=$EP
HOME_DIR=$T/home
DB=$HOME_DIR/farm.db
HB_MS=${HB_MS:-200}

fail() { echo "FAIL: $*"; exit 1; }
farm() { "$BIN/farm" --coordinator "$EP" "$@"; }

# start_farmd [extra args...]: farmd in the background, log in $T/farmd.N.log
FARMD_RUNS=0
start_farmd() {
  FARMD_RUNS=$((FARMD_RUNS + 1))
  "$BIN/farmd" --bind "$EP" --home "$HOME_DIR" --heartbeat-ms "$HB_MS" --liveness 3 \
      --backoff-ms 100 --backoff-max-ms 400 "$@" >"$T/farmd.$FARMD_RUNS.log" 2>&1 &
  FARMD_PID=$!
  PIDS+=("$FARMD_PID")
  wait_for 10 "grep -q listening $T/farmd.$FARMD_RUNS.log" || fail "farmd did not start"
}

# start_worker NAME [extra args...]: prints nothing; pid in WPID[NAME]
declare -A WPID
start_worker() {
  local name=$1; shift
  "$BIN/farm-worker" --coordinator "$EP" --name "$name" --outbox "$T/outbox-$name" \
      --heartbeat-ms "$HB_MS" --reconnect-max-ms 500 "$@" >>"$T/$name.log" 2>&1 &
  WPID[$name]=$!
  PIDS+=("$!")
}

# wait_for SECONDS 'shell condition'
wait_for() {
  local deadline=$(( $(date +%s) + $1 ))
  while [ "$(date +%s)" -lt $deadline ]; do
    eval "$2" && return 0
    sleep 0.1
  done
  return 1
}

sql() { sqlite3 -cmd ".timeout 5000" "$DB" "$1"; }

# check_decode FILE FRAMES: the output decodes with exactly FRAMES frames
check_decode() {
  local n
  n=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1" | tr -d ' ,\n')
  [ "$n" = "$2" ] || fail "$1 decodes to '$n' frames, want $2"
  echo "ok: $(basename "$1") decodes to $n frames"
}
