#!/usr/bin/env bash
# bench_t5_vs_ref.sh — the C T5 encoder (tests/bench/bench_t5.c) and the transformers reference
# (tests/reference/gen_t5.py --bench: T5EncoderModel, torch fp32) on the same random mid-size model
# (d_model 512, 8 layers, 8x64 heads, d_ff 1024, vocab 32128), same ids (B=2, L=226), same thread
# count, alternating ROUNDS times so both see the same machine load. The C side also reports its
# error against the reference's output of the same round. Not a test: figures for BENCHMARKS.md.
#
#   tests/bench/bench_t5_vs_ref.sh [THREADS] [ROUNDS] [extra gen_t5.py size options...]
# C binary from ${FARM_BUILD:-build}/bench/bench_t5; Python from ${FARM_REFENV:-$HOME/.cache/farm-refenv}.
set -u
cd "$(dirname "$0")/../.."
THREADS=${1:-2}
ROUNDS=${2:-2}
shift 2 2>/dev/null || shift $#
C=${FARM_BUILD:-build}/bench/bench_t5
PY=${FARM_REFENV:-$HOME/.cache/farm-refenv}/bin/python
[ -x "$C" ] || { echo "no $C: make bench first"; exit 1; }
[ -x "$PY" ] || { echo "reference environment missing ($PY): run tests/reference/setup.sh"; exit 1; }
DIR=$(mktemp -d /tmp/bench_t5.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
  echo "== round $r: reference (transformers, $THREADS threads)"
  OMP_NUM_THREADS=$THREADS "$PY" tests/reference/gen_t5.py --bench "$DIR" --threads "$THREADS" "$@" 2>/dev/null | grep -v '^Loading'
  echo "== round $r: C (bench_t5, $THREADS threads)"
  OMP_NUM_THREADS=$THREADS "$C" "$DIR" 3 "$THREADS"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
