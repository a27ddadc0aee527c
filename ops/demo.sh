#!/usr/bin/env bash
# demo.sh — what `make demo` runs: start farmd and one worker on this machine, submit the demo shot
# list, show progress, wait, print where the outputs and contact sheets are, and stop what it started.
#
# Shot list: $FARM_DEMO_LIST, default ops/examples/demo.csv: three shots rendered by the `dit` engine
# with the bundled demo model (ops/models/demo, found by name through FARM_MODELS=ops/models), one per
# strategy, in every output format. State and outputs go to $FARM_HOME
# (default ./farm-home); farmd listens on a private ipc:// socket there, so a farmd already running on
# the default port is not disturbed. Binaries come from ${FARM_BIN:-bin}.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN=${FARM_BIN:-bin}
LIST=${FARM_DEMO_LIST:-ops/examples/demo.csv}
export FARM_HOME=${FARM_HOME:-$ROOT/farm-home}
mkdir -p "$FARM_HOME/logs"
export FARM_COORDINATOR=ipc://$FARM_HOME/demo.sock
export FARM_MODELS=${FARM_MODELS:-$ROOT/ops/models}
for b in farmd farm-worker farm; do
  [ -x "$BIN/$b" ] || { echo "demo: $BIN/$b is missing: run 'make' first" >&2; exit 1; }
done

pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop_all EXIT

echo "demo: farmd and one worker, FARM_HOME=$FARM_HOME"
"$BIN/farmd" --bind "$FARM_COORDINATOR" --home "$FARM_HOME" >>"$FARM_HOME/logs/demo-farmd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  "$BIN/farm" --timeout-ms 200 ls >/dev/null 2>&1 && break
  sleep 0.1
done
"$BIN/farm-worker" --name demo-worker >>"$FARM_HOME/logs/demo-worker.log" 2>&1 &
pids+=($!)

echo "demo: submitting $LIST"
job=$("$BIN/farm" submit "$LIST" | tee /dev/stderr | grep -oE 'job [0-9]+' | head -n1 | awk '{print $2}')
[ -n "$job" ] || { echo "demo: submit did not return a job id" >&2; exit 1; }

"$BIN/farm" watch "$job" || true
rc=0; "$BIN/farm" wait "$job" || rc=$?
echo
"$BIN/farm" show "$job"
echo
if [ $rc -eq 0 ]; then
  echo "demo: job $job is done. Outputs and contact sheets:"
  for p in $(find "$FARM_HOME/outputs/$job" -mindepth 2 -maxdepth 2 | sort); do
    if [ -d "$p" ]; then echo "  $p/ ($(ls "$p" | wc -l) frames)"; else echo "  $p"; fi
  done
else
  echo "demo: job $job did not finish (exit $rc); logs: $FARM_HOME/logs" >&2
fi
exit $rc
