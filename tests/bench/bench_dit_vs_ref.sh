#!/usr/bin/env bash
# bench_dit_vs_ref.sh — the C DiT forward (tests/bench/bench_dit.c) and the reference
# (tests/reference/bench_dit.py: diffusers 0.32 + the TransPixar extension, torch fp32) on the same
# mid-size configuration and thread count, one after the other in the same session, alternating
# ROUNDS times so both see the same machine load. Not a test: prints figures for BENCHMARKS.md.
#
# Wall time is what the issue compares; on a shared machine it mostly measures the neighbours, so
# CPU time per forward is reported too: the C program measures its own; for the reference, the
# process CPU time of a run with 2 forwards (--runs 1: warm-up + 1) is subtracted from one with
# 4 forwards (--runs 3), which cancels model construction and start-up.
#
#   tests/bench/bench_dit_vs_ref.sh [THREADS] [ROUNDS]
# C binary from ${FARM_BUILD:-build}/bench/bench_dit; Python from ${FARM_REFENV:-$HOME/.cache/farm-refenv}.
set -u
cd "$(dirname "$0")/../.."
THREADS=${1:-2}
ROUNDS=${2:-1}
C=${FARM_BUILD:-build}/bench/bench_dit
PY=${FARM_REFENV:-$HOME/.cache/farm-refenv}/bin/python
[ -x "$C" ] || { echo "no $C: make bench first"; exit 1; }
TMP=$(mktemp -d /tmp/bench_dit_vs_ref.XXXXXX)
trap 'rm -rf "$TMP"' EXIT

# ref_cpu RUNS: runs the reference, prints its output, leaves user+sys CPU seconds in $TMP/cpu
ref_cpu() {
  OMP_NUM_THREADS=$THREADS /usr/bin/time -f "%U %S" -o "$TMP/time" \
    "$PY" tests/reference/bench_dit.py --threads "$THREADS" --runs "$1" 2>/dev/null
  awk '{ printf "%.2f\n", $1 + $2 }' "$TMP/time" > "$TMP/cpu"
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r: C (bench_dit, $THREADS threads)"
  OMP_NUM_THREADS=$THREADS "$C" --threads "$THREADS" --runs 3 2>/dev/null
  if [ ! -x "$PY" ]; then echo "== reference environment missing ($PY): run tests/reference/setup.sh"; continue; fi
  echo "== round $r: reference (bench_dit.py, $THREADS threads), 3 timed runs"
  ref_cpu 3; c3=$(cat "$TMP/cpu")
  echo "== round $r: reference, 1 timed run (for the CPU-time difference)"
  ref_cpu 1 | grep -i "forward median"; c1=$(cat "$TMP/cpu")
  awk -v a="$c3" -v b="$c1" 'BEGIN { printf "reference: %.1f CPU-s per forward ((%.1f - %.1f) / 2)\n", (a - b) / 2, a, b }'
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
