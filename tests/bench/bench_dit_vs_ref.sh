#!/usr/bin/env bash
# bench_dit_vs_ref.sh — the C DiT forward (tests/bench/bench_dit.c) and the reference
# (tests/reference/bench_dit.py: diffusers 0.32 + the TransPixar extension, torch fp32) on the same
# mid-size configuration and thread count, one after the other in the same session, alternating
# ROUNDS times so both see the same machine load. Not a test: prints figures for BENCHMARKS.md.
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
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r: C (bench_dit, $THREADS threads)"
  OMP_NUM_THREADS=$THREADS "$C" --threads "$THREADS" --runs 3 2>/dev/null
  if [ -x "$PY" ]; then
    echo "== round $r: reference (bench_dit.py, $THREADS threads)"
    OMP_NUM_THREADS=$THREADS "$PY" tests/reference/bench_dit.py --threads "$THREADS" --runs 3 2>/dev/null
  else
    echo "== reference environment missing ($PY): run tests/reference/setup.sh"
  fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
